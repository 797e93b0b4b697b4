from django.urls import path

from users import apis

urlpatterns = [
    path("auth/signup/", apis.SignupApi.as_view(), name="auth-signup"),
    path("auth/login/", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout/", apis.LogoutApi.as_view(), name="auth-logout"),
    path("me/", apis.MeApi.as_view(), name="me"),
    path("me/location/", apis.MeLocationApi.as_view(), name="me-location"),
]

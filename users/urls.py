from django.urls import path

from users import apis

urlpatterns = [
    path("auth/signup/", apis.SignupApi.as_view(), name="auth-signup"),
    path("auth/login/", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout/", apis.LogoutApi.as_view(), name="auth-logout"),
    path("me/", apis.MeApi.as_view(), name="me"),
    path("me/location/", apis.MeLocationApi.as_view(), name="me-location"),
    path("people/<int:person_id>/wave/", apis.PersonWaveApi.as_view(), name="person-wave"),
    path("people/<int:person_id>/like/", apis.PersonLikeApi.as_view(), name="person-like"),
    path("people/<int:person_id>/follow/", apis.PersonFollowApi.as_view(), name="person-follow"),
    path("people/<int:person_id>/block/", apis.PersonBlockApi.as_view(), name="person-block"),
    path("people/<int:person_id>/report/", apis.PersonReportApi.as_view(), name="person-report"),
]

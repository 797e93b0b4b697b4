from django.urls import path

from matching.nearby import apis

urlpatterns = [
    path("nearby/", apis.NearbyListApi.as_view(), name="nearby-list"),
]

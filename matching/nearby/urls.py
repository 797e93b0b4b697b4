from django.urls import path

from matching.nearby import apis

urlpatterns = [
    path("nearby/", apis.NearbyListApi.as_view(), name="nearby-list"),
    path("people/<int:pk>/wave/", apis.WaveApi.as_view(), name="person-wave"),
]

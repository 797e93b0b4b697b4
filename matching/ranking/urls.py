from django.urls import path

from matching.ranking import apis

urlpatterns = [
    path("activities/for-you/", apis.ActivitiesForYouApi.as_view(), name="activities-for-you"),
]

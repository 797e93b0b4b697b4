"""The activities pages (the API's routes are in activities/urls.py)."""

from django.urls import path

from activities import pages

urlpatterns = [
    path("activities/", pages.activities_near, name="activities-near"),
    path("activities/<int:pk>/", pages.activity_detail, name="activity-detail-page"),
    path("activities/<int:pk>/join/", pages.activity_join, name="activity-join-page"),
    path("activities/<int:pk>/leave/", pages.activity_leave, name="activity-leave-page"),
    path("invitations/", pages.invitation_inbox, name="invitation-inbox"),
    path("invitations/<int:pk>/accept/", pages.invitation_accept, name="invitation-accept-page"),
    path("invitations/<int:pk>/decline/", pages.invitation_decline, name="invitation-decline-page"),
    path("organise/", pages.organised_activities, name="organised-activities"),
    path("organise/new/", pages.activity_create, name="activity-create"),
    path("organise/<int:pk>/edit/", pages.activity_edit, name="activity-edit"),
    path("organise/venues/", pages.venue_options, name="venue-options"),
]

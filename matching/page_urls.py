"""The matching pages (the API's routes are in matching/nearby/urls.py, matching/experiments/urls.py and
matching/ranking/urls.py)."""

from django.urls import path

from matching.campaigns import pages as campaign_pages
from matching.experiments import pages as experiment_pages
from matching.invitations import pages as invitation_pages
from matching.nearby import pages as nearby_pages
from matching.ranking import pages as ranking_pages

urlpatterns = [
    path("people/", nearby_pages.people_nearby, name="people-nearby"),
    path("activities/for-you/", ranking_pages.activities_for_you, name="activities-for-you-page"),
    path(
        "organise/<int:pk>/suggestions/",
        invitation_pages.activity_suggestions,
        name="activity-suggestions-page",
    ),
    path("organise/<int:pk>/invite/", invitation_pages.activity_invite, name="activity-invite-page"),
    path(
        "organise/<int:pk>/invitations/",
        invitation_pages.activity_invitation_statuses,
        name="activity-invitation-statuses-page",
    ),
    path("campaigns/", campaign_pages.campaign_list_page, name="campaign-list-page"),
    path("campaigns/new/", campaign_pages.campaign_create_page, name="campaign-create-page"),
    path("campaigns/<int:pk>/", campaign_pages.campaign_detail_page, name="campaign-detail-page"),
    path(
        "campaigns/<int:pk>/progress/", campaign_pages.campaign_progress_page, name="campaign-progress-page"
    ),
    path("campaigns/<int:pk>/build/", campaign_pages.campaign_build_page, name="campaign-build-page"),
    path("campaigns/<int:pk>/audience.csv", campaign_pages.campaign_export_page, name="campaign-export-page"),
    path("experiments/", experiment_pages.experiment_list, name="experiment-list-page"),
    path("experiments/new/", experiment_pages.experiment_create, name="experiment-create-page"),
    path("experiments/<int:pk>/", experiment_pages.experiment_detail, name="experiment-detail-page"),
    path("experiments/<int:pk>/start/", experiment_pages.experiment_start, name="experiment-start-page"),
    path("experiments/<int:pk>/stop/", experiment_pages.experiment_stop, name="experiment-stop-page"),
]

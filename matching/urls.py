from django.urls import path

from matching.campaigns import apis as campaign_apis
from matching.invitations import apis as invitation_apis

urlpatterns = [
    path(
        "activities/<int:pk>/suggestions/",
        invitation_apis.SuggestionListApi.as_view(),
        name="activity-suggestions",
    ),
    path(
        "activities/<int:pk>/invitations/",
        invitation_apis.InvitationSendApi.as_view(),
        name="activity-invitations",
    ),
    path("campaigns/", campaign_apis.CampaignListCreateApi.as_view(), name="campaign-list"),
    path("campaigns/<int:pk>/", campaign_apis.CampaignDetailApi.as_view(), name="campaign-detail"),
    path("campaigns/<int:pk>/seeds/", campaign_apis.CampaignSeedsApi.as_view(), name="campaign-seeds"),
    path("campaigns/<int:pk>/build/", campaign_apis.CampaignBuildApi.as_view(), name="campaign-build"),
    path(
        "campaigns/<int:pk>/members/", campaign_apis.CampaignMemberListApi.as_view(), name="campaign-members"
    ),
    path("campaigns/<int:pk>/export/", campaign_apis.CampaignExportApi.as_view(), name="campaign-export"),
]

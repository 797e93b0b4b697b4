from django.urls import path

from activities import apis

urlpatterns = [
    path("activities/", apis.ActivityListCreateApi.as_view(), name="activity-list"),
    path("activities/<int:pk>/", apis.ActivityDetailApi.as_view(), name="activity-detail"),
    path("activities/<int:pk>/join/", apis.ActivityJoinApi.as_view(), name="activity-join"),
    path("activities/<int:pk>/leave/", apis.ActivityLeaveApi.as_view(), name="activity-leave"),
    path("invitations/", apis.InvitationInboxApi.as_view(), name="invitation-list"),
    path("invitations/<int:pk>/accept/", apis.InvitationAcceptApi.as_view(), name="invitation-accept"),
    path("invitations/<int:pk>/decline/", apis.InvitationDeclineApi.as_view(), name="invitation-decline"),
]

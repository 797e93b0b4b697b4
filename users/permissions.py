"""Role permissions for the API, shared by every app (roles are a users concept)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from users.models import Role


class IsPersonOrOrganiser(BasePermission):
    """People and organisers browse and act on people; marketer accounts only see aggregates."""

    message = "This is for people and organisers; marketer accounts do not browse or contact people."

    def has_permission(self, request, view):
        return getattr(request.user, "role", None) in (Role.PERSON, Role.ORGANISER)


class IsMarketer(BasePermission):
    message = "Only marketers can do this."

    def has_permission(self, request, view):
        return getattr(request.user, "role", None) == Role.MARKETER

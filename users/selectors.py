"""Reads for users: the social graph, blocks, and a person's own view of themselves."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, IntegerField, Value, When

from users.models import Block, Follow, Location, Profile, User


def blocked_user_ids(*, user: User) -> set[int]:
    """Everyone `user` blocked and everyone who blocked `user`: a block hides both ways."""
    made = Block.objects.filter(blocker_id=user.pk).values_list("blocked_id", flat=True)
    received = Block.objects.filter(blocked_id=user.pk).values_list("blocker_id", flat=True)
    return set(made.union(received))


def friend_ids(*, user: User) -> set[int]:
    """People `user` follows who follow `user` back (mutual follows), in one query."""
    followers = Follow.objects.filter(followee_id=user.pk).values("follower_id")
    return set(
        Follow.objects.filter(follower_id=user.pk, followee_id__in=followers).values_list(
            "followee_id", flat=True
        )
    )


@dataclass(frozen=True)
class Me:
    user: User
    profile: Profile
    #: The caller's own exact location: only ever shown to its owner.
    location: Location | None


def me_get(*, user: User) -> Me:
    """The caller, their profile and their own location, in one query."""
    fresh = User.objects.select_related("profile", "location").get(pk=user.pk)
    try:
        profile = fresh.profile
    except Profile.DoesNotExist:  # e.g. a superuser made by createsuperuser: show the defaults
        profile = Profile(user=fresh)
    try:
        location = fresh.location
    except Location.DoesNotExist:
        location = None
    return Me(user=fresh, profile=profile, location=location)


def username_canonical(*, username: str) -> str | None:
    """The stored spelling of a case-insensitively matching username (an exact match wins)."""
    return (
        User.objects.filter(username__iexact=username)
        .annotate(
            exact=Case(When(username=username, then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        .order_by("exact", "pk")
        .values_list("username", flat=True)
        .first()
    )

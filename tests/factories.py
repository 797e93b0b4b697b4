"""factory_boy factories: the one way tests build data."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from activities.models import Activity, Invitation, Participation
from users import geo
from users.models import Block, Follow, Location, Place, Profile, User, Visit

NYC = (40.7484, -73.9857)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    display_name = factory.Faker("first_name")
    role = User.Role.PERSON
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def with_profile(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            Profile.objects.get_or_create(user=obj)
            obj.save()


class OrganiserFactory(UserFactory):
    role = User.Role.ORGANISER


class MarketerFactory(UserFactory):
    role = User.Role.MARKETER


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    user = factory.SubFactory(UserFactory)
    latitude = NYC[0]
    longitude = NYC[1]
    geohash = factory.LazyAttribute(lambda o: geo.encode(o.latitude, o.longitude))
    accuracy_m = 10.0


class PlaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Place

    source = "test"
    external_id = factory.Sequence(lambda n: f"venue-{n}")
    name = factory.Sequence(lambda n: f"Venue {n}")
    category = "Park"
    place_type = "outdoors"
    latitude = NYC[0]
    longitude = NYC[1]
    geohash = factory.LazyAttribute(lambda o: geo.encode(o.latitude, o.longitude))


class VisitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visit

    user = factory.SubFactory(UserFactory)
    place = factory.SubFactory(PlaceFactory)
    visited_at = factory.LazyFunction(timezone.now)


class FollowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Follow

    follower = factory.SubFactory(UserFactory)
    followee = factory.SubFactory(UserFactory)


class BlockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Block

    blocker = factory.SubFactory(UserFactory)
    blocked = factory.SubFactory(UserFactory)


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    organiser = factory.SubFactory(OrganiserFactory)
    activity_type = "badminton"
    title = factory.Sequence(lambda n: f"Badminton #{n}")
    latitude = NYC[0]
    longitude = NYC[1]
    geohash = factory.LazyAttribute(lambda o: geo.encode(o.latitude, o.longitude))
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=2))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=2))
    skill_level = 2
    capacity = 4


class ParticipationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participation

    activity = factory.SubFactory(ActivityFactory)
    user = factory.SubFactory(UserFactory)


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    activity = factory.SubFactory(ActivityFactory)
    invitee = factory.SubFactory(UserFactory)
    invited_by = factory.SelfAttribute("activity.organiser")

"""People, their profiles and locations, places and visits, the social graph and the event log."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from users import taxonomy

LATITUDE_RANGE = Q(latitude__gte=-90) & Q(latitude__lte=90)
LONGITUDE_RANGE = Q(longitude__gte=-180) & Q(longitude__lte=180)


def coordinate_constraints(prefix: str) -> list[models.CheckConstraint]:
    return [
        models.CheckConstraint(condition=LATITUDE_RANGE, name=f"{prefix}_latitude_range"),
        models.CheckConstraint(condition=LONGITUDE_RANGE, name=f"{prefix}_longitude_range"),
    ]


def geohash_prefix_index(prefix: str) -> models.Index:
    # varchar_pattern_ops lets PostgreSQL serve `geohash LIKE 'dr5r%'` from the index whatever the
    # database collation; other backends ignore the operator class.
    return models.Index(
        fields=["geohash"], name=f"{prefix}_geohash_prefix", opclasses=["varchar_pattern_ops"]
    )


class Role(models.TextChoices):
    PERSON = "person", "Person"
    ORGANISER = "organiser", "Organiser"
    MARKETER = "marketer", "Marketer"


class User(AbstractUser):
    Role = Role

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PERSON)
    display_name = models.CharField(max_length=60, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), condition=~Q(email=""), name="user_email_ci_unique"),
            # "Bob" and "bob" are one person: sign-up and login treat usernames case-insensitively.
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="user_role_valid"),
        ]

    @property
    def public_name(self) -> str:
        return self.display_name or self.username


class Profile(models.Model):
    class Gender(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        NON_BINARY = "non_binary", "Non-binary"

    class Education(models.IntegerChoices):
        PRIMARY = 1, "Primary"
        SECONDARY = 2, "Secondary"
        VOCATIONAL = 3, "Vocational"
        BACHELOR = 4, "Bachelor"
        MASTER = 5, "Master"
        DOCTORATE = 6, "Doctorate"

    class Occupation(models.TextChoices):
        STUDENT = "student", "Student"
        EMPLOYED = "employed", "Employed"
        SELF_EMPLOYED = "self_employed", "Self-employed"
        UNEMPLOYED = "unemployed", "Unemployed"
        RETIRED = "retired", "Retired"
        HOMEMAKER = "homemaker", "Homemaker"
        OTHER = "other", "Other"

    class MaritalStatus(models.TextChoices):
        SINGLE = "single", "Single"
        PARTNERED = "partnered", "In a relationship"
        MARRIED = "married", "Married"
        DIVORCED = "divorced", "Divorced"
        WIDOWED = "widowed", "Widowed"

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="profile")
    # Demographics: every field may be unknown (NULL or ""), which features encode as "missing".
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    gender = models.CharField(max_length=16, choices=Gender.choices, blank=True)
    education_level = models.PositiveSmallIntegerField(choices=Education.choices, null=True, blank=True)
    income_level = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Quintile, 1 (lowest) to 5."
    )
    occupation = models.CharField(max_length=16, choices=Occupation.choices, blank=True)
    marital_status = models.CharField(max_length=16, choices=MaritalStatus.choices, blank=True)
    city_level = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="1 = largest metropolis … 5 = rural."
    )
    years_at_residence = models.PositiveSmallIntegerField(null=True, blank=True)
    languages = models.JSONField(default=list, blank=True, help_text="ISO 639-1 codes, e.g. ['en', 'it'].")
    # Preferences: {key: weight in [0, 1]} over the fixed vocabularies in users.taxonomy.
    interests = models.JSONField(default=dict, blank=True)
    activity_preferences = models.JSONField(default=dict, blank=True)
    place_type_preferences = models.JSONField(default=dict, blank=True)
    time_preferences = models.JSONField(default=dict, blank=True)
    #: {activity type: skill level 1..5}
    skills = models.JSONField(default=dict, blank=True)
    bio = models.CharField(max_length=500, blank=True)
    # Visibility
    hide_from_nearby = models.BooleanField(default=False)
    show_age_group = models.BooleanField(default=True)
    allow_invitations = models.BooleanField(default=True)
    #: The person asked not to be targeted by marketing: never a campaign member, never exported.
    marketing_opt_out = models.BooleanField(default=False)
    #: What the person has been worth to date, in the app's currency. Set by the business (billing, CRM),
    #: never by the person; campaigns select seeds by it. The demo fills it from activity.
    lifetime_value = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(birth_year__isnull=True) | (Q(birth_year__gte=1900) & Q(birth_year__lte=2100)),
                name="profile_birth_year_range",
            ),
            models.CheckConstraint(
                condition=Q(income_level__isnull=True) | (Q(income_level__gte=1) & Q(income_level__lte=5)),
                name="profile_income_level_range",
            ),
            models.CheckConstraint(
                condition=Q(city_level__isnull=True) | (Q(city_level__gte=1) & Q(city_level__lte=5)),
                name="profile_city_level_range",
            ),
            models.CheckConstraint(
                condition=Q(education_level__isnull=True)
                | (Q(education_level__gte=1) & Q(education_level__lte=6)),
                name="profile_education_level_range",
            ),
            models.CheckConstraint(
                condition=Q(years_at_residence__isnull=True) | Q(years_at_residence__lte=120),
                name="profile_years_at_residence_range",
            ),
            models.CheckConstraint(
                condition=Q(lifetime_value__gte=0), name="profile_lifetime_value_non_negative"
            ),
        ]
        indexes = [models.Index(fields=["lifetime_value"], name="profile_lifetime_value")]

    def __str__(self) -> str:
        return f"Profile of {self.user}"


class UserTag(models.Model):
    """A marketing label on a person ("vip", "beta-tester"), set by staff or imports, never by the person.

    A row per (person, tag) rather than a JSON list on the profile: "everyone with tag X" is an indexed
    lookup on every database, including the embedded SQLite, which cannot search inside JSON lists.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tags")
    tag = models.SlugField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tag"], name="usertag_user_tag_unique")]
        indexes = [models.Index(fields=["tag", "user"], name="usertag_tag_user")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.tag}"


class Location(models.Model):
    """A person's current location. Only its owner ever sees the coordinates."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="location")
    latitude = models.FloatField()
    longitude = models.FloatField()
    geohash = models.CharField(max_length=12)
    accuracy_m = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            *coordinate_constraints("location"),
            models.CheckConstraint(
                condition=Q(accuracy_m__isnull=True) | Q(accuracy_m__gte=0),
                name="location_accuracy_non_negative",
            ),
        ]
        indexes = [
            geohash_prefix_index("location"),
            models.Index(fields=["updated_at"], name="location_updated"),
        ]

    def __str__(self) -> str:
        return f"Location of {self.user_id}"


class LocationPing(models.Model):
    """Append-only location history (PostgreSQL rejects UPDATEs with a trigger)."""

    class Source(models.TextChoices):
        APP = "app", "App"
        IMPORT = "import", "Import"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="location_pings")
    latitude = models.FloatField()
    longitude = models.FloatField()
    geohash = models.CharField(max_length=12)
    accuracy_m = models.FloatField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.APP)

    class Meta:
        constraints = [
            *coordinate_constraints("locationping"),
            # One position per person per instant; also what makes re-imports idempotent.
            models.UniqueConstraint(fields=["user", "recorded_at"], name="locationping_user_time_unique"),
        ]
        indexes = [geohash_prefix_index("locationping")]

    def __str__(self) -> str:
        return f"{self.user_id} at {self.recorded_at:%Y-%m-%d %H:%M}"


class Place(models.Model):
    """A public venue. Its coordinates are public and may be shown exactly."""

    source = models.CharField(
        max_length=24, help_text="Where the venue came from: foursquare-nyc, yelp, demo, app."
    )
    external_id = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=120, blank=True)
    place_type = models.CharField(
        max_length=16, choices=taxonomy.choices(taxonomy.PLACE_TYPES), default="other"
    )
    latitude = models.FloatField()
    longitude = models.FloatField()
    geohash = models.CharField(max_length=12)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            *coordinate_constraints("place"),
            models.UniqueConstraint(fields=["source", "external_id"], name="place_source_external_id_unique"),
            models.CheckConstraint(condition=Q(place_type__in=taxonomy.PLACE_TYPES), name="place_type_valid"),
        ]
        indexes = [geohash_prefix_index("place"), models.Index(fields=["place_type"], name="place_type_idx")]

    def __str__(self) -> str:
        return self.name


class Visit(models.Model):
    """A check-in: a person at a place at a time."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="visits")
    place = models.ForeignKey(Place, on_delete=models.CASCADE, related_name="visits")
    visited_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "place", "visited_at"], name="visit_unique"),
        ]
        indexes = [
            models.Index(fields=["user", "visited_at"], name="visit_user_time"),
            models.Index(fields=["place", "visited_at"], name="visit_place_time"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} at place {self.place_id}, {self.visited_at:%Y-%m-%d %H:%M}"


class Follow(models.Model):
    """A directed follow. Two follows in opposite directions make a (mutual) friendship."""

    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following")
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="followers")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_unique"),
            models.CheckConstraint(condition=~Q(follower=models.F("followee")), name="follow_not_self"),
        ]
        indexes = [models.Index(fields=["followee", "follower"], name="follow_reverse")]

    def __str__(self) -> str:
        return f"{self.follower_id} follows {self.followee_id}"


class Block(models.Model):
    """A block hides both people from each other everywhere, whoever blocked whom."""

    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_received")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique"),
            models.CheckConstraint(condition=~Q(blocker=models.F("blocked")), name="block_not_self"),
        ]
        indexes = [models.Index(fields=["blocked", "blocker"], name="block_reverse")]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"


class ReportReason(models.TextChoices):
    SPAM = "spam", "Spam or scam"
    HARASSMENT = "harassment", "Harassment"
    FAKE = "fake", "Fake profile"
    INAPPROPRIATE = "inappropriate", "Inappropriate content"
    OTHER = "other", "Something else"


class Report(models.Model):
    """Someone reported another person to the moderators. Reporting also blocks them (users.services)."""

    Reason = ReportReason

    reporter = models.ForeignKey(User, on_delete=models.CASCADE, related_name="reports_made")
    reported = models.ForeignKey(User, on_delete=models.CASCADE, related_name="reports_received")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    details = models.TextField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(reporter=models.F("reported")), name="report_not_self"),
            models.CheckConstraint(
                condition=Q(reason__in=ReportReason.values),
                name="report_reason_valid",
            ),
        ]
        indexes = [models.Index(fields=["reported", "created_at"], name="report_reported_time")]

    def __str__(self) -> str:
        return f"{self.reporter_id} reported {self.reported_id} ({self.reason})"


class EventKind(models.TextChoices):
    VIEW = "view", "View"
    LIKE = "like", "Like"
    WAVE = "wave", "Wave"
    MESSAGE = "message", "Message"
    INVITE_SENT = "invite_sent", "Invitation sent"
    INVITE_ACCEPTED = "invite_accepted", "Invitation accepted"
    INVITE_DECLINED = "invite_declined", "Invitation declined"
    JOIN = "join", "Join"


PERSON_EVENT_KINDS = (EventKind.VIEW, EventKind.LIKE, EventKind.WAVE, EventKind.MESSAGE)
ACTIVITY_EVENT_KINDS = (
    EventKind.INVITE_SENT,
    EventKind.INVITE_ACCEPTED,
    EventKind.INVITE_DECLINED,
    EventKind.JOIN,
)


class InteractionEvent(models.Model):
    """Append-only log of what people do (PostgreSQL rejects UPDATEs with a trigger).

    Person-to-person kinds need a target person; activity kinds need an activity. The activity is
    referenced by id, not by foreign key, because `users` sits below `activities` in the import order.
    """

    Kind = EventKind
    PERSON_KINDS = PERSON_EVENT_KINDS
    ACTIVITY_KINDS = ACTIVITY_EVENT_KINDS

    kind = models.CharField(max_length=16, choices=EventKind.choices)
    actor = models.ForeignKey(User, on_delete=models.CASCADE, related_name="events_made")
    target = models.ForeignKey(
        User, on_delete=models.CASCADE, null=True, blank=True, related_name="events_received"
    )
    activity_id = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind__in=PERSON_EVENT_KINDS) & Q(target__isnull=False))
                | (Q(kind__in=ACTIVITY_EVENT_KINDS) & Q(activity_id__isnull=False)),
                name="event_kind_has_subject",
            ),
            models.CheckConstraint(
                condition=Q(target__isnull=True) | ~Q(actor=models.F("target")), name="event_not_self"
            ),
        ]
        indexes = [
            models.Index(fields=["actor", "occurred_at"], name="event_actor_time"),
            models.Index(fields=["target", "occurred_at"], name="event_target_time"),
            models.Index(fields=["activity_id", "kind"], name="event_activity_kind"),
            models.Index(fields=["kind", "occurred_at"], name="event_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.actor_id}"


class AppSession(models.Model):
    """A stretch of app use, for usage-time features."""

    class Platform(models.TextChoices):
        WEB = "web", "Web"
        IOS = "ios", "iOS"
        ANDROID = "android", "Android"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="app_sessions")
    platform = models.CharField(max_length=8, choices=Platform.choices, default=Platform.WEB)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="appsession_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["user", "started_at"], name="appsession_user_start")]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.platform} from {self.started_at:%Y-%m-%d %H:%M}"

"""Django forms for the activities pages. Shapes only: activities.services applies the rules."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from activities import services
from activities.models import Activity
from users import taxonomy

#: Radii a person may search within, in km; they match the distance buckets people are shown in.
RADIUS_CHOICES_KM: tuple[int, ...] = (1, 2, 5, 10, 25)
DEFAULT_RADIUS_KM = 5
DURATION_CHOICES_MINUTES: tuple[int, ...] = (30, 45, 60, 90, 120, 150, 180, 240, 300, 360, 480, 720)


class NearbyActivitiesFilterForm(forms.Form):
    radius_km = forms.TypedChoiceField(
        choices=[(str(km), f"Within {km} km") for km in RADIUS_CHOICES_KM],
        coerce=int,
        initial=DEFAULT_RADIUS_KM,
        label="Distance",
        required=False,
        empty_value=DEFAULT_RADIUS_KM,
    )
    activity_type = forms.ChoiceField(
        choices=[("", "Any activity"), *taxonomy.choices(taxonomy.ACTIVITY_TYPES)],
        required=False,
        label="Activity",
    )

    def filters(self) -> dict:
        """The selector's filters (activities.selectors.activity_list), without the position."""
        data = self.cleaned_data if self.is_valid() else {}
        filters = {"radius_km": float(data.get("radius_km") or DEFAULT_RADIUS_KM)}
        if data.get("activity_type"):
            filters["activity_type"] = data["activity_type"]
        return filters


def _duration_label(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} minutes"
    text = f"{hours} hour" + ("s" if hours > 1 else "")
    return text + (f" {rest} minutes" if rest else "")


class ActivityForm(forms.Form):
    """Create or edit an activity. The venue is a listed place (place_id) or a spot on the map."""

    title = forms.CharField(max_length=services.TEXT_LIMITS["title"])
    activity_type = forms.ChoiceField(choices=taxonomy.choices(taxonomy.ACTIVITY_TYPES), label="Activity")
    subtype = forms.CharField(
        max_length=services.TEXT_LIMITS["subtype"],
        required=False,
        label="Format",
        help_text="Optional, e.g. doubles.",
    )
    description = forms.CharField(
        max_length=services.TEXT_LIMITS["description"],
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    starts_at = forms.DateTimeField(
        label="Starts",
        help_text="In your own time zone.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    duration_minutes = forms.TypedChoiceField(
        choices=[(str(m), _duration_label(m)) for m in DURATION_CHOICES_MINUTES],
        coerce=int,
        initial=120,
        label="Lasts",
    )
    skill_level = forms.TypedChoiceField(
        choices=[("", "Any level"), *((str(k), f"{k} · {v}") for k, v in taxonomy.SKILL_LABELS.items())],
        coerce=int,
        empty_value=None,
        required=False,
        label="Skill level",
    )
    capacity = forms.IntegerField(
        min_value=services.CAPACITY_MIN,
        max_value=services.CAPACITY_MAX,
        initial=4,
        help_text="How many take part, you included.",
    )
    place_id = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, label="Venue")
    latitude = forms.FloatField(
        required=False, min_value=-90, max_value=90, widget=forms.NumberInput(attrs={"step": "any"})
    )
    longitude = forms.FloatField(
        required=False, min_value=-180, max_value=180, widget=forms.NumberInput(attrs={"step": "any"})
    )

    #: Service fields shown by another form field: the venue picker shows every venue error.
    ERROR_ALIASES = {"latitude": "place_id", "longitude": "place_id", "ends_at": "duration_minutes"}

    def __init__(self, *args, activity: Activity | None = None, **kwargs):
        self.activity = activity
        super().__init__(*args, **kwargs)
        if activity is not None and not self.is_bound:
            minutes = int((activity.ends_at - activity.starts_at).total_seconds() // 60)
            self.initial = {
                "title": activity.title,
                "activity_type": activity.activity_type,
                "subtype": activity.subtype,
                "description": activity.description,
                "starts_at": timezone.localtime(activity.starts_at),
                "duration_minutes": minutes,
                "skill_level": activity.skill_level,
                "capacity": activity.capacity,
                "place_id": activity.place_id,
                "latitude": None if activity.place_id else activity.latitude,
                "longitude": None if activity.place_id else activity.longitude,
            }
        if activity is not None:
            minutes = int((activity.ends_at - activity.starts_at).total_seconds() // 60)
            field = self.fields["duration_minutes"]
            if minutes not in DURATION_CHOICES_MINUTES:  # an activity made through the API may last anything
                field.choices = sorted(
                    [*field.choices, (str(minutes), _duration_label(minutes))], key=lambda c: int(c[0])
                )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("place_id"):
            cleaned["latitude"] = cleaned["longitude"] = None  # a listed venue brings its own position
        elif (cleaned.get("latitude") is None or cleaned.get("longitude") is None) and not (
            {"place_id", "latitude", "longitude"} & set(self.errors)
        ):
            self.add_error("place_id", "Pick a venue from the list, or tap the map to choose a spot.")
        return cleaned

    def schedule(self) -> tuple:
        starts_at = self.cleaned_data["starts_at"]
        return starts_at, starts_at + timedelta(minutes=self.cleaned_data["duration_minutes"])

    def service_fields(self) -> dict:
        """What activities.services.activity_create / activity_update take (the organiser aside)."""
        data = self.cleaned_data
        starts_at, ends_at = self.schedule()
        fields = {
            "title": data["title"],
            "activity_type": data["activity_type"],
            "subtype": data["subtype"],
            "description": data["description"],
            "starts_at": starts_at,
            "ends_at": ends_at,
            "skill_level": data["skill_level"],
            "capacity": data["capacity"],
        }
        if data.get("place_id"):
            fields["place_id"] = data["place_id"]
        else:
            fields |= {"place_id": None, "latitude": data["latitude"], "longitude": data["longitude"]}
        return fields


class VenueSearchForm(forms.Form):
    """Where the organiser's map is: the venue picker lists the public venues around it."""

    latitude = forms.FloatField(min_value=-90, max_value=90)
    longitude = forms.FloatField(min_value=-180, max_value=180)
    radius_km = forms.FloatField(min_value=0.1, max_value=10, required=False)
    q = forms.CharField(max_length=100, required=False, label="Find a venue")
    selected = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False)

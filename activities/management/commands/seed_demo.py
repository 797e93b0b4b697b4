"""Build the demo city: `manage.py seed_demo [--synthetic] [--people N] [--data-dir PATH]`.

The command lives in `activities`, not `users`, because it writes activities: `users` sits below
`activities` in the import order. `users.demo` builds the city and the logins and plans the activities;
this command writes them through the activity services, so demo data obeys the same rules as real data
(only organisers create, the organiser is the first participant, capacity holds, joins are logged).
It then gives everyone a lifetime value from their activity, and tags the most valuable "vip", so the
campaigns have seeds to start from.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from activities.models import Activity, ActivityStatus, Participation
from activities.services import activity_create, activity_join, activity_update
from config.api import ApplicationError
from users.demo import DEMO_PASSWORD, DemoActivitySpec, demo_activity_specs, demo_city_seed
from users.importers import ImportDataError, import_summary_table
from users.management.commands.import_checkins import TqdmProgress
from users.models import Profile, UserTag, Visit

#: What the demo pretends a check-in and taking part in an activity are worth, in the app's currency.
DEMO_VALUE_PER_VISIT = Decimal("1.50")
DEMO_VALUE_PER_PARTICIPATION = Decimal("20.00")
#: The demo tags this share of its most valuable people "vip".
DEMO_VIP_SHARE = 0.05
DEMO_VIP_TAG = "vip"


def demo_activities_ensure(*, specs: Sequence[DemoActivitySpec]) -> list[Activity]:
    """Create the planned activities, or bring an open one with the same organiser and title up to date.

    A rerun on the same day changes nothing; on a later day it moves each activity to its new slot in the
    coming fortnight (a completed one is replaced by a new one), so an old demo database stays usable.
    """
    activities = []
    for spec in specs:
        wanted = {
            "activity_type": spec.activity_type,
            "subtype": spec.subtype,
            "description": spec.description,
            "place_id": spec.place.pk,
            "starts_at": spec.starts_at,
            "ends_at": spec.ends_at,
            "skill_level": spec.skill_level,
            "capacity": spec.capacity,
        }
        activity = (
            Activity.objects.filter(organiser=spec.organiser, title=spec.title, status=ActivityStatus.OPEN)
            .order_by("-starts_at", "-pk")
            .first()
        )
        if activity is None:
            activity = activity_create(organiser=spec.organiser, title=spec.title, **wanted)
        else:
            changes = {field: value for field, value in wanted.items() if getattr(activity, field) != value}
            if changes:
                activity = activity_update(activity_id=activity.pk, user=spec.organiser, data=changes)
        for participant in spec.participants:
            activity_join(activity_id=activity.pk, user=participant)
        activities.append(activity)
    return activities


def _count_of(model, field: str) -> Subquery:
    counted = (
        model.objects.filter(**{field: OuterRef("user_id")}).values(field).annotate(n=Count("pk")).values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


@transaction.atomic
def demo_lifetime_values_fill() -> tuple[int, int]:
    """Every profile's lifetime value from what the person did (check-ins and activities taken part in),
    in one UPDATE, and the "vip" tag on the top DEMO_VIP_SHARE of them. Returns (profiles, vips).

    A real deployment gets lifetime values from billing or a CRM; the demo has neither, so it reads them
    off activity, which is what the value of a person tends to follow anyway. Reruns give the same values.
    """
    value = ExpressionWrapper(
        _count_of(Visit, "user_id") * Value(DEMO_VALUE_PER_VISIT)
        + _count_of(Participation, "user_id") * Value(DEMO_VALUE_PER_PARTICIPATION),
        output_field=DecimalField(max_digits=12, decimal_places=2),
    )
    profiles = Profile.objects.update(lifetime_value=value)
    vip_count = round(profiles * DEMO_VIP_SHARE)
    vips = list(
        Profile.objects.filter(lifetime_value__gt=0)
        .order_by("-lifetime_value", "user_id")
        .values_list("user_id", flat=True)[:vip_count]
    )
    UserTag.objects.filter(tag=DEMO_VIP_TAG).exclude(user_id__in=vips).delete()
    UserTag.objects.bulk_create(
        [UserTag(user_id=user_id, tag=DEMO_VIP_TAG) for user_id in vips], ignore_conflicts=True
    )
    return profiles, len(vips)


class Command(BaseCommand):
    help = (
        "Seed the demo city: the Foursquare NYC check-ins from VICINO_DATA_DIR when present (else a "
        "deterministic synthetic Manhattan), the demo logins and upcoming activities. Safe to rerun."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--synthetic",
            action="store_true",
            help="Use the built-in generator even when the NYC data is present.",
        )
        parser.add_argument(
            "--people",
            type=int,
            default=None,
            metavar="N",
            help="Load only the first N people of the dataset (by id). Default: everyone.",
        )
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="Folder holding the datasets (default: VICINO_DATA_DIR).",
        )

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        if options["people"] is not None and options["people"] < 1:
            raise CommandError("--people must be at least 1")
        data_dir = (options["data_dir"] or settings.VICINO_DATA_DIR).resolve()
        progress = TqdmProgress(self.stderr, label="seed_demo")
        try:
            summary = demo_city_seed(
                data_dir=data_dir,
                synthetic=options["synthetic"],
                people_limit=options["people"],
                on_progress=progress,
            )
            specs = demo_activity_specs(
                organiser=summary.accounts["demo_organiser"],
                username_prefix=summary.dataset.username_prefix,
                place_source=summary.dataset.source,
            )
            activities = demo_activities_ensure(specs=specs)
            valued, vips = demo_lifetime_values_fill()
        except (ImportDataError, LookupError) as exc:
            raise CommandError(str(exc)) from exc
        except ApplicationError as exc:
            raise CommandError(
                f"a demo activity was refused: {exc.message} ({exc.field or exc.code})"
            ) from exc
        finally:
            progress.close()

        origin = (
            "synthetic city (built-in generator)" if summary.synthetic else f"Foursquare NYC from {data_dir}"
        )
        self.stdout.write(f"Demo city: {origin}")
        self.stdout.write(import_summary_table(result=summary.import_result))
        self.stdout.write(f"profiles filled: {summary.profiles_filled:,}")
        self.stdout.write(
            f"lifetime values from activity: {valued:,} profiles, {vips:,} tagged {DEMO_VIP_TAG!r}"
        )
        self.stdout.write("activities (times in UTC):")
        for activity in activities:
            self.stdout.write(
                f"  {activity.starts_at:%Y-%m-%d %H:%M}  {activity.title}  at {activity.place.name}  "
                f"(organiser {activity.organiser.username}, {activity.participations.count()} taking part)"
            )
        self.stdout.write(f"demo logins (password for all: {DEMO_PASSWORD}):")
        for username in summary.accounts:
            self.stdout.write(f"  {username}")
        self.stdout.write(f"seeded in {time.perf_counter() - started:.1f} s")

"""django-filter FilterSets for the activity list (applied by activities.selectors)."""

from __future__ import annotations

import django_filters

from activities.models import Activity, ActivityStatus
from users import taxonomy


class ActivityFilter(django_filters.FilterSet):
    activity_type = django_filters.ChoiceFilter(choices=taxonomy.choices(taxonomy.ACTIVITY_TYPES))
    status = django_filters.ChoiceFilter(choices=ActivityStatus.choices)
    starts_after = django_filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="gte")
    starts_before = django_filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="lte")

    class Meta:
        model = Activity
        fields = ["activity_type", "status", "starts_after", "starts_before"]

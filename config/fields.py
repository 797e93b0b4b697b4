"""Serializer fields shared by every app's API."""

from __future__ import annotations

import math

from rest_framework import serializers


class FiniteFloatField(serializers.FloatField):
    """A float that must be a real, finite number.

    DRF's FloatField already refuses NaN and ±Infinity, but `float(True) == 1.0` would let a boolean
    through as a number; a latitude of `true` is a client bug, not the equator plus one degree.
    """

    default_error_messages = {"invalid": "A finite number is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):  # belt and braces: the contract of this field is "finite"
            self.fail("invalid")
        return value


class LatitudeField(FiniteFloatField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", -90.0)
        kwargs.setdefault("max_value", 90.0)
        super().__init__(**kwargs)


class LongitudeField(FiniteFloatField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", -180.0)
        kwargs.setdefault("max_value", 180.0)
        super().__init__(**kwargs)

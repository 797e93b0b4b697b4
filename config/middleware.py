"""Middleware for the pages."""

from __future__ import annotations

import zoneinfo

from django.utils import timezone

#: Set by static/js/vicino.js from the browser (Intl.DateTimeFormat().resolvedOptions().timeZone).
TIMEZONE_COOKIE = "vicino_tz"


class BrowserTimezoneMiddleware:
    """Show and read times in the browser's own time zone.

    Activities start at a local time: an organiser typing 14:00 means 14:00 where they are, and a person
    reads the start in their own zone. Without the cookie (the very first page) times are UTC.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = request.COOKIES.get(TIMEZONE_COOKIE, "")
        try:
            zone = zoneinfo.ZoneInfo(name) if name and len(name) <= 64 else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            zone = None  # a made-up or malformed cookie is ignored, never an error
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

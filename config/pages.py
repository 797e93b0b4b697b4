"""What every page view shares: sign-in and role checks, rate limits, and the error pages.

Page views live in each app's `pages.py`. Like the API views they are thin: a Django form checks the
shape of the input, one service or selector does the work, a template shows the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from config.throttling import AtomicRateThrottle
from users.models import Role

#: Every role: a page open to anyone signed in.
ALL_ROLES: frozenset[str] = frozenset(Role.values)


def page(*, roles: Iterable[str] = ALL_ROLES) -> Callable:
    """A page for signed-in people of these roles: others are sent to log in, or get the 403 page.

    The roles are kept on the view (`view.vicino_roles`), so the navigation offers a page exactly to the
    roles that may open it (config.navigation).
    """
    allowed = frozenset(roles)
    unknown = allowed - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.user.role not in allowed:
                raise PermissionDenied(f"This page is for {_role_names(allowed)}.")
            return view(request, *args, **kwargs)

        wrapped = login_required(checked)
        wrapped.vicino_roles = allowed
        return wrapped

    return decorate


def _role_names(roles: frozenset[str]) -> str:
    labels = ["people" if role == Role.PERSON else Role(role).label.lower() + "s" for role in Role.values]
    return " and ".join(label for role, label in zip(Role.values, labels, strict=True) if role in roles)


# Rate limits --------------------------------------------------------------------------------------


class PageRateThrottle(AtomicRateThrottle):
    """DRF's rate throttle, for pages. Same rates, same cache keys as the API's ScopedRateThrottle, so a
    client has one budget per scope whether it signs in through the page or the API."""

    cache_format = "throttle_%(scope)s_%(ident)s"

    def __init__(self, scope: str):
        self.scope = scope
        super().__init__()

    def get_rate(self) -> str | None:
        # Read at call time, not import time, so the configured rate is the one in force.
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get(self.scope)

    def get_cache_key(self, request, view) -> str:
        ident = request.user.pk if request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


def throttle_refusal(request: HttpRequest, scope: str) -> HttpResponse | None:
    """The 429 page if this request goes over the `scope` rate, else None (and the request is counted)."""
    throttle = PageRateThrottle(scope)
    if throttle.allow_request(request, None):
        return None
    return too_many_requests(request, retry_after=throttle.wait())


def rate_limited(scope: str, *, methods: Iterable[str] = ("POST",)) -> Callable:
    """Answer the 429 page once a client exceeds the `scope` rate (REST_FRAMEWORK's throttle rates)."""
    limited_methods = frozenset(methods)

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def throttled(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method in limited_methods and (refusal := throttle_refusal(request, scope)):
                return refusal
            return view(request, *args, **kwargs)

        for attribute in ("vicino_roles",):
            if hasattr(view, attribute):
                setattr(throttled, attribute, getattr(view, attribute))
        return throttled

    return decorate


def too_many_requests(request: HttpRequest, *, retry_after: float | None) -> HttpResponse:
    seconds = max(1, math.ceil(retry_after)) if retry_after else None
    response = render(request, "429.html", {"retry_after": seconds}, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response

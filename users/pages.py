"""The users pages: home, sign-up and log-in, onboarding and profile, and the person's own location.

Thin, like the API views: a form checks the input's shape, users.services / users.selectors do the work.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from config.api import ApplicationError
from config.forms import form_add_application_error
from config.pages import page, rate_limited, throttle_refusal
from users import services
from users.forms import PROFILE_SECTIONS, LocationForm, LoginForm, SignupForm
from users.selectors import me_get

#: Onboarding walks the profile's parts, then asks where the person is.
ONBOARDING_STEPS: tuple[str, ...] = (*PROFILE_SECTIONS, "location")
#: Rings drawn around the person's own pin: the distance buckets others see them in (km).
DISTANCE_RINGS_KM: tuple[int, ...] = (1, 2, 5, 10)


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "home.html")
    me = me_get(user=request.user)
    profile = me.profile
    missing = [
        title
        for title, filled in (
            ("interests", profile.interests),
            ("activities", profile.activity_preferences),
            ("free times", profile.time_preferences),
        )
        if not filled
    ]
    return render(request, "home.html", {"me": me, "profile_missing": missing})


@rate_limited("auth")
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.user_signup(
                username=data["username"],
                email=data["email"],
                password=data["password"],
                display_name=data["display_name"],
                role=data["role"],
            )
        except ApplicationError as exc:
            form_add_application_error(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome to Vicino! A few questions, and you're set.")
            return redirect("onboarding", step=ONBOARDING_STEPS[0])
    return render(request, "users/signup.html", {"form": form})


login_page = rate_limited("auth")(
    LoginView.as_view(authentication_form=LoginForm, redirect_authenticated_user=True)
)


def _next_step(step: str) -> str | None:
    index = ONBOARDING_STEPS.index(step)
    return ONBOARDING_STEPS[index + 1] if index + 1 < len(ONBOARDING_STEPS) else None


@page()
def profile(request: HttpRequest) -> HttpResponse:
    me = me_get(user=request.user)
    sections = [
        {"slug": slug, "form": form_class(profile=me.profile)}
        for slug, form_class in PROFILE_SECTIONS.items()
    ]
    return render(request, "users/profile.html", {"me": me, "sections": sections})


def _profile_section(request: HttpRequest, *, section: str, onboarding: bool) -> HttpResponse:
    form_class = PROFILE_SECTIONS.get(section)
    if form_class is None:
        raise Http404("No such part of the profile.")
    me = me_get(user=request.user)
    form = form_class(request.POST or None, profile=me.profile)
    if request.method == "POST" and form.is_valid():
        try:
            services.profile_update(user=request.user, data=form.to_service_data())
        except ApplicationError as exc:
            form_add_application_error(form, exc)
        else:
            if onboarding:
                return redirect("onboarding", step=_next_step(section))
            messages.success(request, f"{form.title}: saved.")
            return redirect("profile")
    context = {"form": form, "section": section, "onboarding": onboarding}
    if onboarding:
        context |= _onboarding_context(section)
    return render(request, "users/profile_section.html", context)


def _onboarding_context(step: str) -> dict:
    next_step = _next_step(step)
    return {
        "step_number": ONBOARDING_STEPS.index(step) + 1,
        "step_count": len(ONBOARDING_STEPS),
        "skip_url": reverse("onboarding", args=[next_step]) if next_step else reverse("activities-near"),
    }


@page()
def profile_section(request: HttpRequest, section: str) -> HttpResponse:
    return _profile_section(request, section=section, onboarding=False)


@page()
def onboarding(request: HttpRequest, step: str) -> HttpResponse:
    if step == "location":
        return _location(request, onboarding=True)
    return _profile_section(request, section=step, onboarding=True)


@page()
def onboarding_start(request: HttpRequest) -> HttpResponse:
    return redirect("onboarding", step=ONBOARDING_STEPS[0])


@page()
def location(request: HttpRequest) -> HttpResponse:
    return _location(request, onboarding=False)


def _location(request: HttpRequest, *, onboarding: bool) -> HttpResponse:
    if request.method == "POST" and (refusal := throttle_refusal(request, "location")):
        return refusal
    me = me_get(user=request.user)
    own = me.location
    initial = {"latitude": own.latitude, "longitude": own.longitude} if own else {}
    form = LocationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.location_update(
                user=request.user,
                latitude=form.cleaned_data["latitude"],
                longitude=form.cleaned_data["longitude"],
                accuracy_m=form.cleaned_data["accuracy_m"],
            )
        except ApplicationError as exc:
            form_add_application_error(form, exc, aliases={"recorded_at": "latitude"})
        else:
            messages.success(request, "Location saved. Only you can see it; others see a distance bucket.")
            return redirect("activities-near" if onboarding else "location")
    context = {
        "form": form,
        "location": me.location,
        "rings_km": DISTANCE_RINGS_KM,
        "onboarding": onboarding,
    }
    if onboarding:
        context |= _onboarding_context("location")
    return render(request, "users/location.html", context)

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
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.http import reswap, retarget

from config.api import ApplicationError
from config.forms import form_add_application_error
from config.pages import page, rate_limited, throttle_refusal
from users import services
from users.forms import PROFILE_SECTIONS, LocationForm, LoginForm, ReportForm, SignupForm
from users.models import Role
from users.selectors import me_get, person_public_name

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


# People and people: the buttons on a nearby card ----------------------------------------------------
#
# Each answers an HTMX request with the piece of the card it changes, and a plain form post with a
# redirect back to the page it came from. A person who is gone, or blocked either way, answers 404 like
# the API, so nobody can probe who blocked them; any other refusal is shown where the button was.

#: Who may act on other people: the same roles as the API's person actions (marketers see aggregates only).
PEOPLE_ROLES = (Role.PERSON, Role.ORGANISER)
GESTURE_DONE = {"wave": "You waved at {name}.", "like": "You like {name}."}


def _back_to(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("people-nearby")


def _refused(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    if exc.status_code == 404:
        raise Http404(exc.message) from exc
    if request.htmx:
        return render(request, "users/_action_refused.html", {"error": exc.message}, status=400)
    messages.error(request, exc.message)
    return _back_to(request)


def _gesture(request: HttpRequest, person_id: int, *, kind: str) -> HttpResponse:
    try:
        event = services.person_gesture_send(
            actor=request.user, target_id=person_id, kind=kind, metadata={"surface": "nearby_page"}
        )
    except ApplicationError as exc:
        return _refused(request, exc)
    notice = GESTURE_DONE[kind].format(name=event.target.public_name)
    if request.htmx:
        context = {"kind": kind, "notice": notice, "person_id": person_id}
        return render(request, "users/_gesture_done.html", context)
    messages.success(request, notice)
    return _back_to(request)


@page(roles=PEOPLE_ROLES)
@rate_limited("interactions")
@require_POST
def person_wave(request: HttpRequest, person_id: int) -> HttpResponse:
    return _gesture(request, person_id, kind="wave")


@page(roles=PEOPLE_ROLES)
@rate_limited("interactions")
@require_POST
def person_like(request: HttpRequest, person_id: int) -> HttpResponse:
    return _gesture(request, person_id, kind="like")


def _card_removed(request: HttpRequest, *, person_id: int, notice: str, undo: bool) -> HttpResponse:
    """The person's card goes (an empty swap), and the page's status line says why."""
    response = render(
        request, "users/_person_gone.html", {"notice": notice, "person_id": person_id, "undo": undo}
    )
    return reswap(retarget(response, f"#person-{person_id}"), "outerHTML")


@page(roles=PEOPLE_ROLES)
@rate_limited("interactions")
@require_POST
def person_block(request: HttpRequest, person_id: int) -> HttpResponse:
    try:
        services.block_create(actor=request.user, target_id=person_id)
    except ApplicationError as exc:
        return _refused(request, exc)
    notice = f"You blocked {person_public_name(user_id=person_id)}. Neither of you will see the other now."
    if request.htmx:
        return _card_removed(request, person_id=person_id, notice=notice, undo=True)
    messages.success(request, notice)
    return _back_to(request)


@page(roles=PEOPLE_ROLES)
@rate_limited("interactions")
@require_POST
def person_unblock(request: HttpRequest, person_id: int) -> HttpResponse:
    try:
        services.block_delete(actor=request.user, target_id=person_id)
    except ApplicationError as exc:
        return _refused(request, exc)
    notice = "Block lifted. They show up again the next time the list loads."
    if request.htmx:
        return render(request, "users/_people_status.html", {"notice": notice})
    messages.success(request, notice)
    return _back_to(request)


@page(roles=PEOPLE_ROLES)
@rate_limited("interactions")
@require_POST
def person_report(request: HttpRequest, person_id: int) -> HttpResponse:
    form = ReportForm(request.POST, person_id=person_id)
    if form.is_valid():
        try:
            services.report_create(
                actor=request.user,
                target_id=person_id,
                reason=form.cleaned_data["reason"],
                details=form.cleaned_data["details"],
            )
        except ApplicationError as exc:
            if exc.status_code == 404:
                raise Http404(exc.message) from exc
            form_add_application_error(form, exc)
        else:
            name = person_public_name(user_id=person_id)
            notice = f"Thank you: a moderator will look at your report. You won't see {name} again."
            if request.htmx:
                return _card_removed(request, person_id=person_id, notice=notice, undo=False)
            messages.success(request, notice)
            return _back_to(request)
    if request.htmx:
        # Only the form comes back, with the reason at its field (no name: the target is not checked yet).
        context = {"form": form, "person_id": person_id, "next": request.POST.get("next", "")}
        return render(request, "users/_report_form.html", context, status=400)
    messages.error(request, " ".join(error for errors in form.errors.values() for error in errors))
    return _back_to(request)

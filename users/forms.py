"""Django forms for the users pages. They check the shape of the input; users.services applies the rules
(the same functions the API calls), and its refusals come back as errors on the field they name."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils import timezone

from users import services, taxonomy
from users.models import Profile, Report, Role
from users.selectors import username_canonical

# Accounts -----------------------------------------------------------------------------------------


class SignupForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    display_name = forms.CharField(
        max_length=60,
        required=False,
        label="Name shown to others",
        help_text="Optional. Others see this, never your username or email.",
        widget=forms.TextInput(attrs={"autocomplete": "nickname"}),
    )
    password = forms.CharField(
        max_length=256,
        strip=False,
        help_text="At least 8 characters, not a common password.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        max_length=256,
        strip=False,
        label="Password, again",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    role = forms.ChoiceField(
        choices=[
            (Role.PERSON, "Meet people and join activities"),
            (Role.ORGANISER, "Also organise activities"),
        ],
        initial=Role.PERSON,
        label="I want to",
        widget=forms.RadioSelect,
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password") and cleaned.get("password") != cleaned.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return cleaned


class LoginForm(AuthenticationForm):
    """Django's login form; usernames match whatever their case, as in the API (users.services.auth_login)."""

    def clean(self):
        username = self.cleaned_data.get("username")
        if username:
            self.cleaned_data["username"] = username_canonical(username=username) or username
        return super().clean()


# Profile ------------------------------------------------------------------------------------------

#: How keen someone is, as the page asks it, and the weight it stores (users.services: weights in [0, 1]).
KEENNESS_CHOICES = [("", "No"), ("0.5", "Sometimes"), ("1.0", "Love it")]


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _keenness(weight: float | None) -> str:
    """The answer that a stored weight reads as: 0 → No, (0, 0.75) → Sometimes, else Love it."""
    if not weight:
        return ""
    return "0.5" if weight < 0.75 else "1.0"


def _weights_from_answers(
    answers: dict[str, str], *, previous: dict[str, float], vocabulary: tuple[str, ...]
) -> dict[str, float]:
    """Answers back to weights; an unchanged answer keeps the precise weight stored before."""
    weights = {}
    for key in vocabulary:
        answer = answers.get(key, "")
        if not answer:
            continue
        weights[key] = previous[key] if _keenness(previous.get(key)) == answer else float(answer)
    return weights


class ProfileSectionForm(forms.Form):
    """One part of the profile. `to_service_data()` gives what users.services.profile_update takes."""

    title = ""
    intro = ""

    def __init__(self, *args, profile: Profile, **kwargs):
        self.profile = profile
        super().__init__(*args, **kwargs)

    def to_service_data(self) -> dict:
        raise NotImplementedError


class AboutForm(ProfileSectionForm):
    title = "About you"
    intro = "Everything here is optional. Others see your name and, if you allow it, your age group."

    display_name = forms.CharField(max_length=60, required=False, label="Name shown to others")
    birth_year = forms.IntegerField(required=False)  # replaced per request: the allowed years move on
    gender = forms.ChoiceField(choices=[("", "Prefer not to say"), *Profile.Gender.choices], required=False)
    languages = forms.CharField(
        max_length=60,
        required=False,
        help_text="Two-letter codes separated by commas, e.g. en, it.",
    )
    occupation = forms.ChoiceField(
        choices=[("", "Prefer not to say"), *Profile.Occupation.choices], required=False
    )
    education_level = forms.TypedChoiceField(
        choices=[("", "Prefer not to say"), *Profile.Education.choices],
        coerce=int,
        empty_value=None,
        required=False,
        label="Education",
    )
    bio = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    show_age_group = forms.BooleanField(required=False, label="Show my age group to others")
    allow_invitations = forms.BooleanField(required=False, label="Organisers may invite me to activities")
    hide_from_nearby = forms.BooleanField(required=False, label="Hide me from other people's nearby lists")

    def __init__(self, *args, profile: Profile, **kwargs):
        super().__init__(*args, profile=profile, **kwargs)
        low, high = services.birth_year_range(today=timezone.localdate())
        self.fields["birth_year"] = forms.IntegerField(
            required=False,
            min_value=low,
            max_value=high,
            label="Year of birth",
            help_text="Others only ever see an age group, and only if you allow it below.",
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        )
        if not self.is_bound:
            self.initial = {
                "display_name": profile.user.display_name,
                "birth_year": profile.birth_year,
                "gender": profile.gender,
                "languages": ", ".join(profile.languages),
                "occupation": profile.occupation,
                "education_level": profile.education_level,
                "bio": profile.bio,
                "show_age_group": profile.show_age_group,
                "allow_invitations": profile.allow_invitations,
                "hide_from_nearby": profile.hide_from_nearby,
            }

    def clean_languages(self) -> list[str]:
        return [code.strip().lower() for code in self.cleaned_data["languages"].split(",") if code.strip()]

    def to_service_data(self) -> dict:
        return dict(self.cleaned_data)


class InterestsForm(ProfileSectionForm):
    title = "Interests"
    intro = "Pick what you enjoy. People who share them show up with a reason (“you both like climbing”)."

    interests = forms.MultipleChoiceField(
        choices=taxonomy.choices(taxonomy.INTERESTS),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="I enjoy",
    )

    def __init__(self, *args, profile: Profile, **kwargs):
        super().__init__(*args, profile=profile, **kwargs)
        if not self.is_bound:
            self.initial = {"interests": [key for key, weight in profile.interests.items() if weight > 0]}

    def to_service_data(self) -> dict:
        previous = self.profile.interests
        # A kept interest keeps its stored strength; a new one counts fully.
        return {"interests": {key: previous.get(key) or 1.0 for key in self.cleaned_data["interests"]}}


class KeennessGridForm(ProfileSectionForm):
    """One 'No / Sometimes / Love it' question per vocabulary key, for one weighted profile field."""

    profile_field = ""
    vocabulary: tuple[str, ...] = ()

    def __init__(self, *args, profile: Profile, **kwargs):
        super().__init__(*args, profile=profile, **kwargs)
        stored = getattr(profile, self.profile_field)
        for key in self.vocabulary:
            self.fields[f"{self.profile_field}__{key}"] = forms.ChoiceField(
                choices=KEENNESS_CHOICES,
                required=False,
                label=_label(key),
                initial=_keenness(stored.get(key)),
                widget=forms.RadioSelect,
            )

    def keenness_fields(self, field: str, vocabulary: tuple[str, ...]) -> list[forms.BoundField]:
        return [self[f"{field}__{key}"] for key in vocabulary]

    def weights(self, field: str, vocabulary: tuple[str, ...]) -> dict[str, float]:
        answers = {key: self.cleaned_data.get(f"{field}__{key}", "") for key in vocabulary}
        return _weights_from_answers(answers, previous=getattr(self.profile, field), vocabulary=vocabulary)


class ActivitiesForm(KeennessGridForm):
    title = "Activities and skills"
    intro = "How keen you are on each activity, and how well you play: organisers invite people who fit."

    profile_field = "activity_preferences"
    vocabulary = taxonomy.ACTIVITY_TYPES

    def __init__(self, *args, profile: Profile, **kwargs):
        super().__init__(*args, profile=profile, **kwargs)
        skill_choices = [("", "—"), *((str(k), f"{k} · {v}") for k, v in taxonomy.SKILL_LABELS.items())]
        for key in self.vocabulary:
            self.fields[f"skills__{key}"] = forms.TypedChoiceField(
                choices=skill_choices,
                coerce=int,
                empty_value=None,
                required=False,
                label=f"{_label(key)} skill",
                initial=profile.skills.get(key),
            )

    def rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        return [
            (_label(key), self[f"{self.profile_field}__{key}"], self[f"skills__{key}"])
            for key in self.vocabulary
        ]

    def to_service_data(self) -> dict:
        skills = {
            key: self.cleaned_data[f"skills__{key}"]
            for key in self.vocabulary
            if self.cleaned_data.get(f"skills__{key}") is not None
        }
        return {"activity_preferences": self.weights(self.profile_field, self.vocabulary), "skills": skills}


class TimesPlacesForm(KeennessGridForm):
    title = "When and where"
    intro = "When you are usually free, and the kinds of places you like to go."

    profile_field = "time_preferences"
    vocabulary = taxonomy.TIME_PREFERENCES

    places = forms.MultipleChoiceField(
        choices=[(key, label) for key, label in taxonomy.choices(taxonomy.PLACE_TYPES) if key != "home"],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Places I like",
    )

    def __init__(self, *args, profile: Profile, **kwargs):
        super().__init__(*args, profile=profile, **kwargs)
        if not self.is_bound:
            liked = [key for key, weight in profile.place_type_preferences.items() if weight > 0]
            self.initial["places"] = liked

    def time_fields(self) -> list[forms.BoundField]:
        return self.keenness_fields(self.profile_field, self.vocabulary)

    def to_service_data(self) -> dict:
        previous = self.profile.place_type_preferences
        places = {key: previous.get(key) or 1.0 for key in self.cleaned_data["places"]}
        if previous.get("home"):
            places["home"] = previous["home"]  # not asked on the page; never dropped by it
        return {
            "time_preferences": self.weights(self.profile_field, self.vocabulary),
            "place_type_preferences": places,
        }


#: The profile's parts, in onboarding order: (slug, form).
PROFILE_SECTIONS: dict[str, type[ProfileSectionForm]] = {
    "about": AboutForm,
    "interests": InterestsForm,
    "activities": ActivitiesForm,
    "times": TimesPlacesForm,
}


# Location -----------------------------------------------------------------------------------------


class LocationForm(forms.Form):
    latitude = forms.FloatField(
        min_value=-90,
        max_value=90,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
        error_messages={"required": "Drop a pin on the map, use your device's location, or type one."},
    )
    longitude = forms.FloatField(
        min_value=-180,
        max_value=180,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
        error_messages={"required": "Drop a pin on the map, use your device's location, or type one."},
    )
    accuracy_m = forms.FloatField(min_value=0, max_value=1_000_000, required=False, widget=forms.HiddenInput)


# People and people --------------------------------------------------------------------------------


class ReportForm(forms.Form):
    """Why someone is reported. users.services.report_create checks the same and also blocks them."""

    reason = forms.ChoiceField(
        choices=Report.Reason.choices, widget=forms.RadioSelect, label="What is wrong?"
    )
    details = forms.CharField(
        max_length=1000,
        required=False,
        label="Anything the moderators should know",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, person_id: int, **kwargs):
        # Each card has its own form: ids must differ between cards on one page.
        kwargs.setdefault("auto_id", f"report-{person_id}-%s")
        super().__init__(*args, **kwargs)

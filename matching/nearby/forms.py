"""Django forms for the nearby page. Shapes only: matching.nearby.services ranks, users.services acts."""

from __future__ import annotations

from django import forms

#: Radii a person may look within, in km: the distance buckets' edges (the API allows any up to 50).
RADIUS_CHOICES_KM: tuple[int, ...] = (1, 2, 5, 10, 25, 50)
#: How many people one page shows, and the most "show more" reaches (the API's own maximum).
PAGE_SIZE, MAX_LIMIT = 20, 100


def _radius_label(km: float) -> str:
    return f"Within {km:g} km"


class NearbyPeopleFilterForm(forms.Form):
    """Radius, friends as seeds, and how many. Garbage falls back to the defaults, never an error: the
    radius left out is the person's experiment variant's (matching.nearby.services)."""

    radius_km = forms.TypedChoiceField(
        choices=[("", "Suggested"), *((str(km), _radius_label(km)) for km in RADIUS_CHOICES_KM)],
        coerce=float,
        empty_value=None,
        required=False,
        label="Distance",
    )
    with_friends = forms.BooleanField(
        required=False,
        label="Include my friends' tastes",
        help_text="Also rank by what the people you follow each other with like.",
    )
    limit = forms.TypedChoiceField(
        choices=[(str(n), str(n)) for n in range(PAGE_SIZE, MAX_LIMIT + 1, PAGE_SIZE)],
        coerce=int,
        empty_value=PAGE_SIZE,
        required=False,
        widget=forms.HiddenInput,
    )

    def filters(self) -> dict:
        """nearby_people_serve's keyword arguments besides the user."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "radius_km": data.get("radius_km"),
            "with_friends": bool(data.get("with_friends")),
            "limit": data.get("limit") or PAGE_SIZE,
        }

    def show_radius(self, radius_km: float) -> None:
        """Select the radius the list was actually served with (the variant's when none was asked for),
        adding it to the choices when a variant uses one the menu lacks."""
        field = self.fields["radius_km"]
        values = {value for value, _label in field.choices}
        value = f"{radius_km:g}"
        if value not in values:
            field.choices = sorted(
                [*field.choices[1:], (value, _radius_label(radius_km))], key=lambda c: float(c[0])
            )
        else:
            field.choices = field.choices[1:]
        # Bound forms render their data: the served radius must win over an empty "suggested".
        if self.is_bound:
            self.data = self.data.copy()
            self.data["radius_km"] = value
        self.initial["radius_km"] = value

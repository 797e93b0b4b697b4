"""Django forms for the experiment pages. Shapes only: matching.experiments.services checks every rule
(keys, weights, which settings a surface takes), and its refusals come back at the field they name."""

from __future__ import annotations

import re

from django import forms

from config.api import ApplicationError
from matching.experiments.models import ExperimentMetric, ExperimentSurface
from matching.experiments.services import MAX_VARIANTS, MIN_VARIANTS

#: The variant settings the form offers, in the order shown: (name, label, help).
CONFIG_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("w_d", "Distance weight", "w_d, 0 to 1: how much nearness counts."),
    ("w_s", "Similarity weight", "w_s, 0 to 1: how much look-alike similarity counts."),
    ("w_a", "Acceptance weight", "w_a, 0 to 1 (invitations only): how much predicted acceptance counts."),
    ("radius_km", "Radius (km)", "Candidates within this many km (more than 0, at most 50)."),
    ("candidate_cap", "Candidates scored", "20 to 2000."),
    ("model_version", "Model version", "The RALM version to score with."),
)


class ExperimentForm(forms.Form):
    key = forms.CharField(
        max_length=64,
        help_text="Lowercase letters, digits, '-' or '_', e.g. nearby-blend-2026.",
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )
    description = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    surface = forms.ChoiceField(choices=ExperimentSurface.choices, label="Ranking to test")
    metric = forms.ChoiceField(
        choices=[("", "The surface's default"), *ExperimentMetric.choices],
        required=False,
        label="Success metric",
        help_text="Default: a wave on nearby people, an accepted invitation on invitations.",
    )
    salt = forms.CharField(
        max_length=64,
        required=False,
        help_text="Optional. The same salt splits the same people the same way; left empty, a random one.",
    )


class VariantForm(forms.Form):
    key = forms.CharField(max_length=32, widget=forms.TextInput(attrs={"autocapitalize": "none"}))
    weight = forms.FloatField(
        help_text="Share of people, relative to the others.",
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    w_d = forms.FloatField(
        required=False, widget=forms.NumberInput(attrs={"step": "any", "min": 0, "max": 1})
    )
    w_s = forms.FloatField(
        required=False, widget=forms.NumberInput(attrs={"step": "any", "min": 0, "max": 1})
    )
    w_a = forms.FloatField(
        required=False, widget=forms.NumberInput(attrs={"step": "any", "min": 0, "max": 1})
    )
    radius_km = forms.FloatField(required=False, widget=forms.NumberInput(attrs={"step": "any"}))
    candidate_cap = forms.IntegerField(required=False)
    model_version = forms.ChoiceField(required=False)

    def __init__(self, *args, model_versions: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model_version"].choices = [("", "The active model"), *((v, v) for v in model_versions)]
        for name, label, help_text in CONFIG_FIELDS:
            self.fields[name].label = label
            self.fields[name].help_text = help_text

    def to_service_data(self) -> dict:
        """{"key", "weight", "config"}: the config holds only the settings given (the rest stay default)."""
        data = self.cleaned_data
        config = {name: data[name] for name, _l, _h in CONFIG_FIELDS if data.get(name) not in (None, "")}
        return {"key": data["key"], "weight": data["weight"], "config": config}


class BaseVariantFormSet(forms.BaseFormSet):
    def __init__(self, *args, model_versions: list[str] = (), **kwargs):
        self.model_versions = list(model_versions)
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "model_versions": self.model_versions}

    def to_service_data(self) -> list[dict]:
        # A row added and left blank is no variant.
        return [form.to_service_data() for form in self.forms if form.cleaned_data]


VariantFormSet = forms.formset_factory(
    VariantForm,
    formset=BaseVariantFormSet,
    extra=0,
    min_num=MIN_VARIANTS,
    max_num=MAX_VARIANTS,
    validate_min=True,
    validate_max=True,
)

#: "variants[1].config.w_d" → (1, "w_d"); "variants[0].key" → (0, "key").
_VARIANT_FIELD = re.compile(r"^variants\[(\d+)\](?:\.config)?\.([a-z_]+)")


def experiment_forms_add_error(
    form: ExperimentForm, variants: BaseVariantFormSet, exc: ApplicationError
) -> None:
    """Show a service refusal next to the field it names, in the experiment form or in a variant's row."""
    field = exc.field or ""
    match = _VARIANT_FIELD.match(field)
    if match and int(match.group(1)) < len(variants.forms):
        row = variants.forms[int(match.group(1))]
        name = match.group(2)
        row.add_error(name if name in row.fields else None, exc.message)
    elif field.startswith("variants"):
        variants._non_form_errors = variants.error_class([exc.message], renderer=variants.renderer)
    elif field in form.fields:
        form.add_error(field, exc.message)
    else:
        form.add_error(None, exc.message)

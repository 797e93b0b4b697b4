"""Django forms for the campaign pages. Shapes only: matching.campaigns.services checks every rule, and
its refusals come back at the field they name ("seed.tag" → the tag, "csv.row[7]" → the file)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from config.api import ApplicationError
from matching.campaigns.apis import MAX_CSV_BYTES
from matching.campaigns.models import ExportIdentifier, SeedKind, SizeKind
from matching.campaigns.services import MAX_REGION_RADIUS_KM, NAME_MAX

#: Where a service's field shows in the form.
SERVICE_FIELDS = {
    "name": "name",
    "seed.kind": "seed_kind",
    "seed.min_lifetime_value": "min_lifetime_value",
    "seed.tag": "tag",
    "seeds": "seed_file",
    "csv": "seed_file",
    "size.kind": "size_kind",
    "size.value": "size_value",
    "region.radius_km": "region_radius_km",
    "region.latitude": "region_latitude",
    "region.longitude": "region_longitude",
}


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX, help_text="For you: e.g. “VIP look-alikes, Manhattan”.")
    seed_kind = forms.ChoiceField(
        choices=[
            (SeedKind.LIFETIME_VALUE, "People whose lifetime value is at least…"),
            (SeedKind.TAG, "People with a tag"),
            (SeedKind.UPLOAD, "A list of user ids I upload (CSV)"),
        ],
        initial=SeedKind.LIFETIME_VALUE,
        widget=forms.RadioSelect,
        label="Seeds: who the audience should look like",
    )
    min_lifetime_value = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
        label="Lifetime value at least",
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    tag = forms.CharField(required=False, max_length=40, help_text="e.g. vip")
    seed_file = forms.FileField(
        required=False,
        label="CSV of user ids",
        help_text="One column of ids, or a user_id column with a header row. At most 2 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    use_region = forms.BooleanField(required=False, label="Only people in a region")
    region_latitude = forms.FloatField(required=False, min_value=-90, max_value=90, label="Centre latitude")
    region_longitude = forms.FloatField(
        required=False, min_value=-180, max_value=180, label="Centre longitude"
    )
    region_radius_km = forms.FloatField(
        required=False,
        min_value=0.1,
        max_value=MAX_REGION_RADIUS_KM,
        initial=5,
        label="Radius (km)",
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    size_kind = forms.ChoiceField(
        choices=[
            (SizeKind.TOP_N, "The best N people"),
            (SizeKind.TOP_PERCENT, "The best % of eligible people"),
        ],
        initial=SizeKind.TOP_N,
        widget=forms.RadioSelect,
        label="Audience size",
    )
    size_value = forms.FloatField(
        label="N or %",
        initial=50,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    exclude_seeds = forms.BooleanField(
        required=False,
        initial=True,
        label="Leave the seeds themselves out of the audience",
        help_text="People who opted out of marketing are always left out.",
    )

    def clean_seed_file(self) -> str | None:
        upload = self.cleaned_data.get("seed_file")
        if not upload:
            return None
        if upload.size > MAX_CSV_BYTES:
            raise ValidationError(f"At most {MAX_CSV_BYTES // 1024 // 1024} MB.")
        try:
            return upload.read().decode("utf-8-sig")  # spreadsheets like to start with a byte-order mark
        except UnicodeDecodeError:
            raise ValidationError("This file is not UTF-8 text: save it as CSV (UTF-8).") from None

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("seed_kind")
        if kind == SeedKind.LIFETIME_VALUE and cleaned.get("min_lifetime_value") is None:
            self.add_error("min_lifetime_value", "Give the lifetime value the seeds have at least.")
        if kind == SeedKind.TAG and not cleaned.get("tag"):
            self.add_error("tag", "Give the tag the seeds carry.")
        if kind == SeedKind.UPLOAD and not cleaned.get("seed_file") and "seed_file" not in self.errors:
            self.add_error("seed_file", "Choose the CSV file of user ids.")
        if cleaned.get("use_region"):
            for name in ("region_latitude", "region_longitude", "region_radius_km"):
                if cleaned.get(name) is None and name not in self.errors:
                    self.add_error(name, "Tap the map for the centre, and give a radius.")
        return cleaned

    def region(self) -> dict[str, float] | None:
        data = self.cleaned_data
        if not data.get("use_region"):
            return None
        return {
            "latitude": data["region_latitude"],
            "longitude": data["region_longitude"],
            "radius_km": data["region_radius_km"],
        }

    def add_service_error(self, exc: ApplicationError | ValidationError) -> None:
        """A service refusal at its field; every bad CSV row is listed at the file."""
        if isinstance(exc, ValidationError):
            rows = sorted(exc.message_dict.items(), key=lambda item: _row_number(item[0]))
            for key, messages in rows:
                row = _row_number(key)
                for message in messages:
                    self.add_error("seed_file", f"Row {row}: {message}" if row else message)
            return
        field = SERVICE_FIELDS.get(exc.field or "")
        if field is None and (exc.field or "").startswith("csv"):
            field = "seed_file"
        self.add_error(field, exc.message)


def _row_number(key: str) -> int:
    """csv.row[7] → 7; anything else 0 (listed first)."""
    if key.startswith("csv.row[") and key.endswith("]") and key[8:-1].isdigit():
        return int(key[8:-1])
    return 0


class ExportForm(forms.Form):
    identifier = forms.ChoiceField(choices=ExportIdentifier.choices)

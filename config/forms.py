"""Shared plumbing for the pages' Django forms: one field layout, and service errors shown at their field."""

from __future__ import annotations

import re

from django import forms
from django.forms.renderers import TemplatesSetting

from config.api import ApplicationError


class VicinoFormRenderer(TemplatesSetting):
    """Every `{{ field.as_field_group }}` gets the label, the input, its help and its errors, in that order.

    Django itself adds aria-invalid and aria-describedby (help text and errors) to the input.
    """

    field_template_name = "components/field.html"


_FIELD_ROOT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*")


def form_add_application_error(
    form: forms.Form, exc: ApplicationError, *, aliases: dict[str, str] | None = None
) -> None:
    """Show a service's refusal next to the field it names ("skills.tennis" → the `skills` field).

    `aliases` maps a service field to the form field that shows it (e.g. latitude → the venue picker).
    A field the form does not have becomes a form-wide error: the person still reads the reason.
    """
    match = _FIELD_ROOT.match(exc.field or "")
    name = match.group(0) if match else None
    name = (aliases or {}).get(name, name)
    if name in form.fields:
        form.add_error(name, exc.message)
    else:
        form.add_error(None, exc.message)

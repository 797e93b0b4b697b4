"""Every model has an admin, and each admin's list and detail pages render for staff."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from tests.factories import (
    ActivityFactory,
    InvitationFactory,
    LocationFactory,
    ParticipationFactory,
    UserFactory,
)

OUR_APPS = ("users", "activities", "matching")


def test_every_model_of_ours_is_in_the_admin():
    # Registered itself, or shown as an inline of a registered model (profiles, participations, chunks).
    inlines = {
        inline.model for model_admin in admin.site._registry.values() for inline in model_admin.inlines
    }
    missing = [
        model.__name__
        for app in OUR_APPS
        for model in apps.get_app_config(app).get_models()
        if model not in admin.site._registry and model not in inlines
    ]
    assert not missing, f"models without an admin: {missing}"


@pytest.mark.django_db
def test_admin_pages_render_for_staff(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    LocationFactory(user=staff)
    InvitationFactory()
    ParticipationFactory(activity=ActivityFactory())
    client.force_login(staff)
    for model, _model_admin in admin.site._registry.items():
        if model._meta.app_label not in OUR_APPS:
            continue
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        changelist = client.get(reverse(f"{prefix}_changelist"))
        assert changelist.status_code == 200, prefix
        obj = model._default_manager.first()
        if obj is not None:
            detail = client.get(reverse(f"{prefix}_change", args=[obj.pk]))
            assert detail.status_code == 200, prefix

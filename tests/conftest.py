from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.clients import api_client_for
from tests.factories import MarketerFactory, OrganiserFactory, UserFactory


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def person(db):
    return UserFactory()


@pytest.fixture
def organiser(db):
    return OrganiserFactory()


@pytest.fixture
def marketer(db):
    return MarketerFactory()


@pytest.fixture
def person_client(person) -> APIClient:
    return api_client_for(person)


@pytest.fixture
def organiser_client(organiser) -> APIClient:
    return api_client_for(organiser)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty Redis cache (throttle counters live there)."""
    from django.core.cache import cache

    cache.clear()
    yield

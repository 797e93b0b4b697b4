from __future__ import annotations

import pytest
from rest_framework.test import APIClient

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
    client = APIClient()
    client.force_authenticate(person)
    return client


@pytest.fixture
def organiser_client(organiser) -> APIClient:
    client = APIClient()
    client.force_authenticate(organiser)
    return client


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty Redis cache (throttle counters live there)."""
    from django.core.cache import cache

    cache.clear()
    yield

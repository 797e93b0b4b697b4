"""API clients for the tests."""

from __future__ import annotations

from rest_framework.test import APIClient


def api_client_for(user) -> APIClient:
    """A DRF test client authenticated as `user` (no token, no session: force_authenticate)."""
    client = APIClient()
    client.force_authenticate(user)
    return client

"""What every page template may use: the role's navigation and the map settings."""

from __future__ import annotations

from django.conf import settings

from config.navigation import navigation_for


def vicino(request) -> dict:
    user = getattr(request, "user", None)
    navigation = []
    if user is not None and user.is_authenticated:
        navigation = navigation_for(role=user.role, current_path=request.path)
    return {
        "navigation": navigation,
        "map_settings": {
            "tileUrl": settings.VICINO_TILE_URL,
            "tileAttribution": settings.VICINO_TILE_ATTRIBUTION,
            "center": list(settings.VICINO_MAP_CENTER),
        },
    }

"""Template filters the pages share."""

from __future__ import annotations

from django import template

from users import taxonomy

register = template.Library()


@register.filter
def key_label(key: str) -> str:
    """A vocabulary key as people read it: "board_games" → "Board games"."""
    return str(key).replace("_", " ").capitalize()


@register.filter
def skill_label(level: int | None) -> str:
    return taxonomy.SKILL_LABELS.get(level, "any level") if level else "any level"

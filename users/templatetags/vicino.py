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


@register.filter
def percent(value: float | None) -> str:
    """0.1234 → "12.3 %" (two decimals under 10 %, where a tenth of a point matters)."""
    if value is None:
        return "–"
    digits = 2 if abs(value) < 0.1 else 1
    return f"{value * 100:.{digits}f} %"


@register.filter
def signed_percent(value: float | None) -> str:
    """A difference of rates: +1.5 %, −0.8 % (a real minus sign)."""
    if value is None:
        return "–"
    text = percent(abs(value))
    return ("+" if value > 0 else "−" if value < 0 else "±") + text


@register.filter
def pvalue(value: float | None) -> str:
    """p-values as statisticians write them: "< 0.001" below that, else three decimals."""
    if value is None:
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"

"""The main navigation: each entry is shown only to the roles its page admits.

A page's roles come from its `config.pages.page(roles=...)` decorator, so the menu and the 403 check
can never disagree. Add a page to the menu by adding its URL name here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import resolve, reverse

from config.pages import ALL_ROLES


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str


MAIN_NAVIGATION: tuple[NavItem, ...] = (
    NavItem("people-nearby", "People nearby"),
    NavItem("activities-near", "Activities near me"),
    NavItem("activities-for-you-page", "Activities for you"),
    NavItem("invitation-inbox", "Invitations"),
    NavItem("organised-activities", "My activities"),
    NavItem("location", "My location"),
    NavItem("campaign-list-page", "Campaigns"),
    NavItem("experiment-list-page", "Experiments"),
    NavItem("profile", "Profile"),
)


def roles_for(url_name: str) -> frozenset[str]:
    view = resolve(reverse(url_name)).func
    return getattr(view, "vicino_roles", ALL_ROLES)


def navigation_for(*, role: str, current_path: str) -> list[dict]:
    """The role's entries; the current one is the longest URL the path starts with (so /activities/for-you/
    marks "Activities for you", not "Activities near me" as well)."""
    items = [
        {"url": reverse(item.url_name), "label": item.label, "current": False}
        for item in MAIN_NAVIGATION
        if role in roles_for(item.url_name)
    ]
    matching = [entry for entry in items if current_path.startswith(entry["url"])]
    if matching:
        max(matching, key=lambda entry: len(entry["url"]))["current"] = True
    return items

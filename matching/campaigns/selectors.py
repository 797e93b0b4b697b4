"""Reads for campaigns: a marketer's own campaigns, who is eligible, the members, and the export rows."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from django.db.models import Q, QuerySet
from django.http import Http404

from activities.selectors import distance_km_expression
from matching.campaigns.models import Campaign, CampaignMember, CampaignSeed, ExportIdentifier
from matching.models import UserEmbedding
from users import geo
from users.models import User

#: Rows fetched per round trip while streaming an export.
EXPORT_FETCH_ROWS = 2000


def campaign_list(*, owner: User) -> QuerySet[Campaign]:
    """The campaigns `owner` created, newest first. Campaigns are private to their marketer."""
    return Campaign.objects.filter(owner=owner).select_related("model_version").order_by("-created_at", "-pk")


def campaign_get(*, campaign_id: int, owner: User) -> Campaign:
    """One of `owner`'s campaigns; anyone else's is a 404 (ids must not confirm that it exists)."""
    try:
        return campaign_list(owner=owner).get(pk=campaign_id)
    except Campaign.DoesNotExist:
        raise Http404("No such campaign.") from None


def campaign_eligible_embeddings(*, campaign: Campaign) -> QuerySet[UserEmbedding]:
    """The stored embeddings (under the campaign's model version) of everyone who may be in its audience.

    Eligible: an active account with an embedding (people not encoded yet cannot be scored), not opted out
    of marketing, not a seed (unless the campaign keeps seeds), and inside the region when there is one
    (current location within radius_km of the centre: geohash cells first, then the exact distance).
    """
    qs = UserEmbedding.objects.filter(
        model_version_id=campaign.model_version_id, user__is_active=True
    ).exclude(user__profile__marketing_opt_out=True)
    if campaign.exclude_seeds:
        qs = qs.exclude(user_id__in=CampaignSeed.objects.filter(campaign_id=campaign.pk).values("user_id"))
    if campaign.has_region:
        cells = geo.cells_covering(
            campaign.region_latitude, campaign.region_longitude, campaign.region_radius_km
        )
        prefix = Q()
        for cell in cells:
            prefix |= Q(user__location__geohash__startswith=cell)
        qs = (
            qs.filter(prefix)
            .annotate(
                region_distance_km=distance_km_expression(
                    latitude=campaign.region_latitude,
                    longitude=campaign.region_longitude,
                    latitude_field="user__location__latitude",
                    longitude_field="user__location__longitude",
                )
            )
            .filter(region_distance_km__lte=campaign.region_radius_km)
        )
    return qs


def campaign_member_list(*, campaign: Campaign) -> QuerySet[CampaignMember]:
    """The ranked audience, best first: user ids, scores and ranks only."""
    return CampaignMember.objects.filter(campaign=campaign, rank__isnull=False).order_by("rank")


def email_sha256(email: str) -> str:
    """SHA-256 (lowercase hex) of the address stripped of surrounding spaces and lowercased."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def campaign_export_rows(*, campaign: Campaign, identifier: str) -> Iterator[tuple[int, float, str]]:
    """(rank, score, identifier) for every member, best first, streamed from the database.

    With EMAIL_SHA256, members without an e-mail address are left out: there is nothing to hash. Nothing
    about anyone's location is ever read here.
    """
    rows = campaign_member_list(campaign=campaign).values_list("rank", "score", "user_id", "user__email")
    for rank, score, user_id, email in rows.iterator(chunk_size=EXPORT_FETCH_ROWS):
        if identifier == ExportIdentifier.USER_ID:
            yield rank, score, str(user_id)
        elif email and email.strip():
            yield rank, score, email_sha256(email)

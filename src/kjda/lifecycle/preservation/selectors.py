"""Reads of the fixity audit's results."""

from __future__ import annotations

from kjda.storage.models import BlobFixity, FixityOutcome


def fixity_open_failures(*, limit: int = 1000) -> list[BlobFixity]:
    """Blobs whose last check found a copy damaged or missing and left it so, oldest first."""
    return list(BlobFixity.objects.filter(
        outcome__in=[FixityOutcome.MISMATCH, FixityOutcome.MISSING]).order_by("verified_at")
        [:limit])

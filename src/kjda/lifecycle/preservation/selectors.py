"""Reads of the fixity audit's results."""

from __future__ import annotations

from kjda.storage.models import BlobFixity, FixityOutcome, FixityRun


def fixity_open_failures(*, limit: int = 1000) -> list[BlobFixity]:
    """Blobs whose last check found a copy damaged or missing and left it so, oldest first."""
    return list(BlobFixity.objects.filter(
        outcome__in=[FixityOutcome.MISMATCH, FixityOutcome.MISSING]).order_by("verified_at")
        [:limit])


def fixity_runs(*, limit: int = 10) -> list[FixityRun]:
    """The latest finished fixity audit runs, newest first."""
    return list(FixityRun.objects.filter(finished_at__isnull=False).order_by("-started_at")
                [:limit])

"""Where a request for the OA goes: kjda.lifecycle.loans.oa sets the submitter at start-up
(AppConfig.ready). The services call it through here because oa.py calls the services back
with the OA's decision (one direction of import each)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kjda.lifecycle.loans.models import Loan

_SUBMITTER: list[Callable[[Loan], bool]] = []


def oa_submitter_set(fn: Callable[[Loan], bool]) -> None:
    _SUBMITTER[:] = [fn]


def oa_submit(loan: Loan) -> bool:
    """True when the request became an approval in the borrower's OA."""
    return bool(_SUBMITTER) and _SUBMITTER[0](loan)

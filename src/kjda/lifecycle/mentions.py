"""Where a record or a volume appears in the lifecycle's batches and registers: "in 移交清册
YJ-2025-0001 (accepted)", "held: 未结清债权 (until 2026-06-30)", "in 销毁清册 XH-2055-0001".

Each workflow registers a provider in its AppConfig.ready; the record and volume pages list what
all providers return, so the registers are "listed on the record/volume they concern" without
the archives app knowing the workflows above it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from kjda.archives.models import Record, Volume


@dataclass(frozen=True)
class Mention:
    workflow: str  # "transfer", "appraisal", "hold", "destruction", "volume", …
    label: str  # e.g. "会计档案移交清册 YJ-2025-0001"
    state: str  # the batch's or the item's state, as shown, e.g. "已接收"
    url: str = ""  # the batch page
    when: datetime | None = None


RecordMentions = Callable[[Record], list[Mention]]
VolumeMentions = Callable[[Volume], list[Mention]]
_RECORD: list[RecordMentions] = []
_VOLUME: list[VolumeMentions] = []


def record_mentions_provider(fn: RecordMentions) -> RecordMentions:
    if fn not in _RECORD:
        _RECORD.append(fn)
    return fn


def volume_mentions_provider(fn: VolumeMentions) -> VolumeMentions:
    if fn not in _VOLUME:
        _VOLUME.append(fn)
    return fn


def mentions_of_record(record: Record) -> list[Mention]:
    return [m for provider in _RECORD for m in provider(record)]


def mentions_of_volume(volume: Volume) -> list[Mention]:
    return [m for provider in _VOLUME for m in provider(volume)]

"""The monitor's probes: each reads one kind of condition and returns the alarm kinds it owns
with the conditions it found now (monitor_check raises those and clears the owned kinds' other
open alarms). Reads only; the writes are services.alarm_raise / alarm_clear."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from kjda.audit.selectors import audit_refusal_counts
from kjda.connectors.selectors import failures_since
from kjda.lifecycle.preservation.selectors import fixity_open_failures
from kjda.preservation.backup.providers import overdue_title
from kjda.preservation.backup.selectors import backup_status
from kjda.storage.services import store_probe

from .middleware import slow_window, window_of
from .models import AlarmKind, Severity

LAST_CHECK_KEY = "kjda:monitor:last_check"
REFUSAL_WINDOW = timedelta(minutes=15)
GiB = 1024**3


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    title_zh: str
    title_en: str
    detail_zh: str = ""
    detail_en: str = ""
    severity: str = Severity.WARNING
    data: dict[str, Any] = field(default_factory=dict)


Probe = Callable[[], tuple[list[str], list[Finding]]]


def _split(text: str) -> tuple[str, str]:
    zh, _, en = text.partition(" / ")
    return zh, en or zh


def _gib(n: int) -> str:
    return f"{n / GiB:.1f} GiB"


def _folder(url: str) -> Path | None:
    if not url.startswith("file:"):
        return None
    from urllib.parse import unquote, urlsplit
    from urllib.request import url2pathname

    return Path(url2pathname(unquote(urlsplit(url).path)))


def watched_folders() -> list[tuple[str, Path]]:
    """The folders whose disks must not fill: the data directory and folder stores."""
    folders = [("data", Path(settings.DATA_DIR))]
    for name, url in (("primary", settings.STORAGE_URL), ("replica", settings.KJDA_REPLICA_URL)):
        path = _folder(url) if url else None
        if path is not None:
            folders.append((name, path))
    return folders


def probe_disk() -> tuple[list[str], list[Finding]]:
    """Free space of each disk holding the data directory or a folder store, one finding per
    disk below KJDA_ALARM_DISK_FREE_PERCENT or KJDA_ALARM_DISK_FREE_BYTES."""
    pct, floor = settings.KJDA_ALARM_DISK_FREE_PERCENT, settings.KJDA_ALARM_DISK_FREE_BYTES
    by_disk: dict[int, list[tuple[str, Path]]] = {}
    for name, path in watched_folders():
        try:
            by_disk.setdefault(os.stat(path).st_dev, []).append((name, path))
        except OSError:
            continue  # a missing store folder is the unreachable probe's finding
    findings = []
    for users in by_disk.values():
        usage = shutil.disk_usage(users[0][1])
        free_pct = 100 * usage.free / usage.total if usage.total else 0.0
        if free_pct >= pct and usage.free >= floor:
            continue
        where = ", ".join(f"{name} {path}" for name, path in users)
        findings.append(Finding(
            AlarmKind.LOW_DISK, str(users[0][1]),
            f"磁盘空间不足：{users[0][1]} 剩余 {_gib(usage.free)}（{free_pct:.1f}%）",
            f"low free space: {users[0][1]} has {_gib(usage.free)} free ({free_pct:.1f}%)",
            f"{where}：剩余 {usage.free} 字节，共 {usage.total} 字节；告警阈值 {pct:g}% 或 "
            f"{_gib(floor)}", f"{where}: {usage.free} of {usage.total} bytes free; alarm below "
            f"{pct:g}% or {_gib(floor)}",
            Severity.CRITICAL if usage.free < floor / 2 else Severity.WARNING,
            {"free_bytes": usage.free, "total_bytes": usage.total, "free_percent":
             round(free_pct, 2), "folders": [[n, str(p)] for n, p in users]}))
    return [AlarmKind.LOW_DISK], findings


def probe_stores() -> tuple[list[str], list[Finding]]:
    """The primary store and the replica (when configured) answer and take a write."""
    findings = []
    for kind, subject, url in ((AlarmKind.STORE_UNREACHABLE, "primary", settings.STORAGE_URL),
                               (AlarmKind.REPLICA_UNREACHABLE, "replica",
                                settings.KJDA_REPLICA_URL)):
        if not url:
            continue
        probe = store_probe(url=url)
        if probe.ok:
            continue
        zh, en = ("主存储", "primary store") if subject == "primary" else ("副本存储", "replica")
        findings.append(Finding(
            kind, subject, f"{zh}不可用", f"{en} unreachable",
            f"{url}：{probe.error}", f"{url}: {probe.error}", Severity.CRITICAL,
            {"url": url, "error": probe.error, "millis": probe.millis}))
    return [AlarmKind.STORE_UNREACHABLE, AlarmKind.REPLICA_UNREACHABLE], findings


def probe_slow() -> tuple[list[str], list[Finding]]:
    """Slow requests counted by the middleware in this and the previous five-minute window."""
    threshold = settings.KJDA_ALARM_SLOW_COUNT
    now = window_of(time.time())
    for window in (now, now - 1):
        count, top = slow_window(window)
        if count >= threshold:
            paths = "; ".join(f"{path} {ms} ms" for ms, path in top)
            limit = settings.KJDA_SLOW_REQUEST_MS
            return [AlarmKind.SLOW_RESPONSES], [Finding(
                AlarmKind.SLOW_RESPONSES, "web",
                f"响应缓慢：5 分钟内 {count} 个请求超过 {limit:g} 毫秒",
                f"slow responses: {count} requests over {limit:g} ms within 5 minutes",
                f"最慢：{paths}", f"slowest: {paths}", Severity.WARNING,
                {"count": count, "slowest": top, "threshold_ms": limit})]
    return [AlarmKind.SLOW_RESPONSES], []


def _since() -> datetime:
    last = cache.get(LAST_CHECK_KEY)
    if last:
        return datetime.fromisoformat(last)
    return timezone.now() - timedelta(seconds=settings.KJDA_MONITOR_INTERVAL_SECONDS)


def probe_failed_jobs() -> tuple[list[str], list[Finding]]:
    """Task results that failed, inbox events that failed for good and OA notices that gave up,
    since the last check."""
    since = _since()
    failed = DBTaskResult.objects.filter(status=TaskResultStatus.FAILED, finished_at__gt=since)
    names = sorted({path.rsplit(".", 1)[-1] for path in
                    failed.values_list("task_path", flat=True)[:200]})
    counts = {"tasks_failed": failed.count(), **failures_since(since=since)}
    if not any(counts.values()):
        return [AlarmKind.FAILED_JOBS], []
    zh = (f"后台任务 {counts['tasks_failed']} 个失败，OA 待办事件 {counts['inbox_failed']} 个失败，"
          f"OA 通知 {counts['notices_failed']} 条发送失败")
    en = (f"{counts['tasks_failed']} tasks failed, {counts['inbox_failed']} OA events failed for "
          f"good, {counts['notices_failed']} OA notices gave up")
    if names:
        zh, en = f"{zh}（{', '.join(names[:10])}）", f"{en} ({', '.join(names[:10])})"
    return [AlarmKind.FAILED_JOBS], [Finding(
        AlarmKind.FAILED_JOBS, "jobs", "后台任务失败", "background jobs failed", zh, en,
        Severity.WARNING, {**counts, "tasks": names[:20], "since": since.isoformat()})]


def probe_refusals() -> tuple[list[str], list[Finding]]:
    """One account or one address refused KJDA_ALARM_REFUSALS times within 15 minutes."""
    at_least = settings.KJDA_ALARM_REFUSALS
    findings = []
    for row in audit_refusal_counts(since=timezone.now() - REFUSAL_WINDOW, at_least=at_least):
        who_zh = "账号" if row["by"] == "user" else "地址"
        who_en = "account" if row["by"] == "user" else "address"
        findings.append(Finding(
            AlarmKind.ACCESS_REFUSALS, f"{row['by']}:{row['who']}",
            f"多次拒绝访问：{who_zh} {row['who']}", f"repeated refusals: {who_en} {row['who']}",
            f"15 分钟内被拒绝 {row['count']} 次（拒绝访问或登录失败，阈值 {at_least}），见审计日志",
            f"refused {row['count']} times within 15 minutes (access denied or failed sign-in; "
            f"threshold {at_least}): see the audit log", Severity.WARNING, dict(row)))
    return [AlarmKind.ACCESS_REFUSALS], findings


def probe_fixity() -> tuple[list[str], list[Finding]]:
    """Blobs the fixity audit left damaged or missing (its alarms are raised by the audit
    itself, kjda.lifecycle.preservation.services; here they clear once repaired)."""
    findings = [Finding(
        AlarmKind.FIXITY_DAMAGE, f.blob_id, "文件损坏或缺失，未能修复",
        "a stored file is damaged or missing, not repaired",
        f"SHA-256 {f.blob_id}：{f.get_outcome_display()}（{f.verified_at:%Y-%m-%d %H:%M}）",
        f"SHA-256 {f.blob_id}: {f.outcome} (checked {f.verified_at:%Y-%m-%d %H:%M})",
        Severity.CRITICAL, {"sha256": f.blob_id, "outcome": f.outcome})
        for f in fixity_open_failures()]
    return [AlarmKind.FIXITY_DAMAGE], findings


def probe_backup() -> tuple[list[str], list[Finding]]:
    status = backup_status()
    if not status.overdue:
        return [AlarmKind.BACKUP_OVERDUE], []
    return [AlarmKind.BACKUP_OVERDUE], [backup_finding(status.as_dict())]


def backup_finding(facts: dict[str, Any]) -> Finding:
    zh, en = _split(overdue_title(facts))
    return Finding(AlarmKind.BACKUP_OVERDUE, "backup", zh, en, zh, en, Severity.CRITICAL,
                   {k: v for k, v in facts.items() if k != "dest"})


PROBES: list[Probe] = [probe_disk, probe_stores, probe_slow, probe_failed_jobs, probe_refusals,
                       probe_fixity, probe_backup]


def check_done(at: datetime) -> None:
    """The failed-jobs probe counts from here next time."""
    cache.set(LAST_CHECK_KEY, at.isoformat(), timeout=30 * 86400)

"""`kjda` — serve | worker | demo | audit verify | audit checkpoint | keys export | storage check | formats | backup | backup verify | restore | monitor check | manage.

`kjda serve` is the one command a new user runs: it migrates, seeds the fonds and the retention
table, creates the `admin` account, starts the production web server with its task worker
processes beside it, and prints the URL.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kjda.settings")
    import django

    django.setup()


def site_prepare(*, quiet: bool = False) -> str | None:
    """Migrate, seed, create the admin. Returns the generated admin password, if one was made."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from kjda.archives.services import fonds_ensure

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    fonds_ensure()
    from kjda.storage.services import get_backend

    get_backend()  # opens (on first start: creates) the blob store; the monitor probes it
    if get_user_model().objects.filter(username="admin").exists():
        return None
    password = os.environ.get("KJDA_ADMIN_PASSWORD")
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    from kjda.accounts.services import user_bootstrap

    if user_bootstrap(password=password, generated_password=generated is not None) is None:
        return None  # another process made it meanwhile
    return generated


def cmd_serve(args: argparse.Namespace) -> int:
    django_setup()
    from django.conf import settings

    generated = site_prepare()
    if not _node_keys_ok():
        return 2
    if generated:
        print("=" * 64)
        print("已创建管理员账号 / admin account created")
        print("  用户名 username: admin")
        print(f"  密码   password: {generated}")
        print("  （仅显示这一次 / shown only this once）")
        print("=" * 64)
    _warn_if_mfa_off()
    host = "localhost" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
    print(f"KJDA 已启动 / running: http://{host}:{args.port}/  (数据目录 data: {settings.DATA_DIR})",
          flush=True)
    from kjda.server import serve

    _audit_checkpoint_quietly("start")
    try:
        serve(host=args.host, port=args.port, workers=args.workers, threads=args.threads,
              task_workers=-1 if args.no_worker else args.task_workers,
              worker_nice=args.worker_nice, server=args.server)
    finally:
        _audit_checkpoint_quietly("shutdown")
    return 0


def _audit_checkpoint_quietly(when: str) -> None:
    """A signed audit checkpoint at start and shutdown; a failure is reported, not fatal."""
    from django.db import close_old_connections

    from kjda.audit.checkpoints import audit_checkpoint_write

    close_old_connections()
    try:
        cp = audit_checkpoint_write(only_if_new=True)
    except Exception as exc:  # noqa: BLE001 - serving (or stopping) must go on; say why
        print(f"审计检查点未写入 / audit checkpoint not written ({when}): {exc}", file=sys.stderr,
              flush=True)
        return
    if cp is not None:
        print(f"审计检查点 / audit checkpoint ({when}): #{cp.seq}", flush=True)


def _warn_if_mfa_off() -> None:
    """A test instance may turn the administrators' second factor off
    (KJDA_MFA_REQUIRED_ROLES=none); it must never go unnoticed."""
    from django.conf import settings

    from kjda.accounts.roles import Role

    unknown = sorted(set(settings.KJDA_MFA_REQUIRED_ROLES) - set(Role.values))
    if unknown:  # a typo would silently drop the requirement for that role
        print(f"警告 / WARNING: KJDA_MFA_REQUIRED_ROLES names unknown roles: {', '.join(unknown)} "
              f"(use {', '.join(Role.values)}, or none)", file=sys.stderr, flush=True)
    if not settings.KJDA_MFA_REQUIRED_ROLES:
        print("!" * 64, file=sys.stderr)
        print("警告：KJDA_MFA_REQUIRED_ROLES=none，管理员无需双因素认证，仅限测试环境使用！\n"
              "WARNING: KJDA_MFA_REQUIRED_ROLES=none: administrators log in without a second "
              "factor. For a test instance only.", file=sys.stderr)
        print("!" * 64, file=sys.stderr, flush=True)


def _node_keys_ok() -> bool:
    """Refuse to start with keys other than those the database was written with; warn when a
    server database (other nodes may share it) is used with keys from local files."""
    from kjda.preservation.cluster import (
        node_keys_from_files,
        node_keys_problems,
        node_uses_server_database,
    )

    problems = node_keys_problems()
    for problem in problems:
        print(f"拒绝启动 / REFUSING TO START: {problem.message}", file=sys.stderr)
    if problems:
        print("每个节点须使用相同的密钥：在首个节点运行 `kjda keys export`，把输出设为其他节点的环境"
              "变量 / every node must use the same keys: run `kjda keys export` on the first "
              "node and set its output in every other node's environment", file=sys.stderr,
              flush=True)
        return False
    local = node_keys_from_files() if node_uses_server_database() else []
    if local:
        print(f"警告 / WARNING: {', '.join(local)} 来自本机数据目录的文件 / come from files in "
              "this node's KJDA_DATA_DIR. 多节点部署须在每个节点设置相同的环境变量（kjda keys "
              "export）/ with more than one node set them, the same, in every node's environment "
              "(kjda keys export)", file=sys.stderr, flush=True)
    return True


def cmd_keys_export(args: argparse.Namespace) -> int:
    """Print the shared keys of this data dir as environment lines for the other nodes."""
    django_setup()
    from kjda.preservation.cluster import node_keys_export

    print("# KJDA 共享密钥 / shared keys: 在每个 kjda serve 与 kjda worker 节点设置 / set on "
          "every node; 保密 / keep secret")
    for line in node_keys_export():
        print(line)
    return 0


def _exit_with_parent(parent_pid: int) -> None:
    """A worker started by `kjda serve` ends when the server is gone, even if it was killed."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="kjda-parent-watch", daemon=True).start()


def cmd_worker(args: argparse.Namespace) -> int:
    if args.nice:
        os.nice(args.nice)
    if args.parent_pid:
        _exit_with_parent(args.parent_pid)
    django_setup()
    if not _node_keys_ok():
        return 2
    import threading

    from django.core.management import call_command

    from kjda.connectors.tasks import start_intake_threads, start_periodic_thread

    start_periodic_thread()
    from kjda.lifecycle.daily import start_daily_thread

    start_daily_thread()  # issue 17: custody running out, expiries (once a day)
    from kjda.preservation.monitoring.tasks import start_monitor_thread

    start_monitor_thread()  # issue 19 item 5: the probes, one worker per interval
    stop = threading.Event()
    intake = start_intake_threads(threads=args.intake_threads, index=args.index,
                                  count=args.count, stop=stop)
    try:  # db_worker returns on SIGTERM/SIGINT after its current task
        call_command("db_worker", queue_name="default", interval=args.interval, verbosity=0)
    finally:
        stop.set()  # let the intake threads finish the event they hold
        for thread in intake:
            thread.join(timeout=20)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    django_setup()
    from kjda.audit.selectors import audit_chain_verify

    result = audit_chain_verify()
    if result.ok:
        print(result.reason)
        return 0
    where = f"#{result.first_bad_seq}" if result.first_bad_seq is not None else "-"
    print(f"审计日志哈希链被破坏 / audit chain BROKEN, first bad event {where}: "
          f"{result.reason}", file=sys.stderr)
    return 1


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    """Write a signed checkpoint of the audit chain to the blob store now."""
    django_setup()
    from kjda.audit.checkpoints import audit_checkpoint_write
    from kjda.errors import DomainError

    try:
        cp = audit_checkpoint_write(only_if_new=True)
    except DomainError as exc:
        print(f"审计检查点未写入 / audit checkpoint not written: {exc.message}", file=sys.stderr)
        return 1
    if cp is None:
        print("审计日志为空，无需检查点 / the audit log is empty: no checkpoint")
    else:
        print(f"审计检查点 / audit checkpoint {cp.name}: 事件 events #1–#{cp.seq}, "
              f"{cp.written_at}")
    return 0


def cmd_audit_rotate_key(args: argparse.Namespace) -> int:
    """Put a new audit key first in KJDA_DATA_DIR/audit_key; the old ones stay below it, to
    verify the events and checkpoints written with them. Takes effect at the next start."""
    django_setup()
    from django.conf import settings

    from kjda.audit.keys import audit_key_id

    if os.environ.get("KJDA_AUDIT_KEY"):
        print("KJDA_AUDIT_KEY 由环境变量提供：请在那里轮换（新密钥设为 KJDA_AUDIT_KEY，旧密钥加入 "
              "KJDA_AUDIT_OLD_KEYS） / the key comes from the environment: rotate it there (new "
              "key in KJDA_AUDIT_KEY, the old one added to KJDA_AUDIT_OLD_KEYS)", file=sys.stderr)
        return 1
    path = Path(settings.DATA_DIR) / "audit_key"
    new = secrets.token_hex(32)
    tmp = path.with_name(f".audit_key.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(new + "\n" + (path.read_text() if path.exists() else ""))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    print(f"新审计密钥 / new audit key {audit_key_id(new)} (旧 / was "
          f"{audit_key_id(settings.KJDA_AUDIT_KEY)}); 请重启 kjda serve 与 kjda worker / "
          f"restart kjda serve and every kjda worker; keep {path} backed up outside the database")
    return 0


def cmd_storage_check(args: argparse.Namespace) -> int:
    """Orphaned blob files and stale temp files (and the last sweep); --sweep removes them.
    Then the fixity audit (the scheduled share, --all, or --sample N): exit 1 on damage left."""
    django_setup()
    from kjda.storage.services import get_backend, storage_sweep, storage_sweep_last

    report = storage_sweep(dry_run=not args.sweep)
    backend = get_backend()
    print(f"存储 / store: {backend!r}")
    if not hasattr(backend, "stored_folders"):
        print("  S3: objects are not listed (only the local temp files are swept); an object "
              "without a row stays until its Object Lock retention allows removal by hand")
    last = storage_sweep_last()
    if last:
        print(f"上次清理 / last sweep: {last['at']}: {last['orphans']} orphans "
              f"({last['orphan_bytes']} B), {last['temp_files']} temp files "
              f"({last['temp_bytes']} B) removed")
    else:
        print("上次清理 / last sweep: never")
    verb = "removed" if args.sweep else "to remove"
    for finding in report.found:
        print(f"  {finding.kind:6} {finding.size:>12} B  {finding.age_hours:>8.1f} h  "
              f"{finding.path}")
    counts = report.counts()
    print(f"孤立文件 / orphan blobs {verb}: {counts['orphans']} ({counts['orphan_bytes']} B); "
          f"临时文件 / temp files {verb}: {counts['temp_files']} ({counts['temp_bytes']} B); "
          f"kept inside the {report.grace_hours:g} h grace period: {counts['young_kept']}; "
          f"referenced blobs: {counts['referenced']}")
    if report.skipped:
        print(f"未清理 / NOT swept: {report.skipped}", file=sys.stderr)
        return 1
    return _storage_fixity(args)


def _storage_fixity(args: argparse.Namespace) -> int:
    from kjda.lifecycle.preservation.services import fixity_check
    from kjda.storage.services import fixity_counts, replica_lag

    mode = "all" if args.all else "sample" if args.sample is not None else "due"
    run = fixity_check(mode=mode, sample=args.sample, bytes_per_second=args.rate)
    c = fixity_counts(run)
    print(f"长期保存检测 / fixity audit #{run.pk} ({mode}): {c['blobs_checked']} blobs, "
          f"{c['bytes_checked']} B checked in "
          f"{(run.finished_at - run.started_at).total_seconds():.1f} s")  # type: ignore[operator]
    print(f"  摘要不符 / mismatches {c['mismatches']}; 缺失 / missing {c['missing']}; "
          f"已修复 / repaired {c['repaired']}; 孤立 / orphans {c['orphans']}; "
          f"副本不符 / replica mismatches {c['replica_mismatches']}; "
          f"副本缺失 / replica missing {c['replica_missing']}")
    for f in run.findings[:50]:
        print(f"  {f['outcome']:8} {f['copy']:7} {f['sha256']}"
              + ("  repaired" if f.get("repaired") else ""))
    lag = replica_lag()
    if lag["configured"]:
        print(f"副本 / replica: {lag['pending']} not yet copied ({lag['failing']} failing), "
              f"oldest since {lag['oldest_queued_at'] or '-'}")
    if run.failed:
        print("有未修复的损坏 / damage left unrepaired", file=sys.stderr)
        return 1
    return 0


def cmd_storage_restore(args: argparse.Namespace) -> int:
    """Rebuild the primary blob store from the replica, verifying every digest."""
    django_setup()
    from kjda.storage.services import StorageError, storage_restore_from_replica

    try:
        report = storage_restore_from_replica()
    except StorageError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"从副本恢复 / restored from the replica: {report.restored} blobs; intact "
          f"{report.intact}; checked {report.checked}; failed {len(report.failed or [])}")
    for sha in (report.failed or [])[:50]:
        print(f"  not restored: {sha}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_formats_list(args: argparse.Namespace) -> int:
    """The format registry with the archive's files per format (格式监测)."""
    django_setup()
    from kjda.lifecycle.formatwatch.selectors import format_registry, migration_runs

    print(f"{'format':12} {'category':10} {'files':>9} {'bytes':>14}  {'target':9} flag  name")
    for u in format_registry():
        e = u.entry
        if e is None:
            print(f"{u.format_id:12} {'-':10} {u.files:>9} {u.bytes:>14}  {'-':9} -     "
                  "未登记 / not registered")
            continue
        target = e.target_format if e.has_converter and e.target_format else "-"
        flag = "RISK" if e.at_risk else "-"
        print(f"{e.format_id:12} {e.category:10} {u.files:>9} {u.bytes:>14}  {target:9} "
              f"{flag:5} {e.name}" + (f"  [{e.risk_reason}]" if e.at_risk else ""))
    for r in migration_runs(limit=5):
        print(f"run #{r.pk} {r.entry.format_id} {r.started_at:%Y-%m-%d %H:%M} {r.state}: "
              f"migrated {r.migrated}, failed {r.failed}, given up {r.given_up}")
    return 0


def cmd_formats_flag(args: argparse.Namespace) -> int:
    """Flag a format at risk (the migration is enqueued for the task workers) or clear it."""
    django_setup()
    from kjda.errors import DomainError
    from kjda.lifecycle.formatwatch.selectors import format_entry_get
    from kjda.lifecycle.formatwatch.services import format_risk_flag

    try:
        entry = format_risk_flag(entry=format_entry_get(format_id=args.format_id),
                                 at_risk=not args.unflag, reason=args.reason or "")
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    state = "风险 / at risk (migration queued)" if entry.at_risk else "未标记 / not flagged"
    print(f"{entry.format_id} {entry.name}: {state}")
    return 0


def cmd_formats_migrate(args: argparse.Namespace) -> int:
    """Run the migration of a flagged format now and print the summary; exit 1 on failures."""
    django_setup()
    from kjda.errors import DomainError
    from kjda.lifecycle.formatwatch.services import format_migrate

    try:
        run = format_migrate(format_id=args.format_id, trigger="cli")
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    print(f"格式迁移 / format migration #{run.pk} {run.entry.format_id} → {run.target_format or '-'}"
          f" ({run.state}): {run.candidates} to migrate, {run.migrated} migrated, "
          f"{run.failed} failed, {run.given_up} given up earlier")
    for reason, n in run.reasons.items():
        print(f"  {n} × {reason}")
    for f in run.failures[:50]:
        print(f"  file {f['file']} (record {f['record']}) {f['filename']}: {f['reason']}")
    return 1 if run.failed or run.state == "no_converter" and run.candidates else 0


def cmd_reindex(args: argparse.Namespace) -> int:
    """Rebuild the full-text index from the records (after a restore, or a tokenizer change)."""
    django_setup()
    from kjda.archives.search import search_reindex

    count = search_reindex()
    print(f"已重建 {count} 件档案的全文索引 / re-indexed {count} records")
    return 0


def cmd_directory_sync(args: argparse.Namespace) -> int:
    """Sync departments and leavers from the DingTalk / WeCom / Feishu directories now."""
    django_setup()
    from kjda.connectors.directory import directory_connectors, directory_sync

    connectors = [c for c in directory_connectors()
                  if not args.connector or str(c.pk) == str(args.connector)]
    failed = 0
    for connector in connectors:
        try:
            counts = directory_sync(connector=connector)
        except Exception as exc:  # noqa: BLE001 - reported, and the others still run
            print(f"{connector.kind} {connector.name}: failed: {exc}")
            failed += 1
            continue
        print(f"{connector.kind} {connector.name}: {counts}")
    return 1 if failed else 0


def cmd_volumes_assemble(args: argparse.Namespace) -> int:
    """组卷 for a fonds' year (one category or all) by its volume rules, as the CLI's system user."""
    django_setup()
    from kjda.accounts.services import system_user
    from kjda.archives.models import Category, Fonds
    from kjda.lifecycle.volumes.services import volumes_assemble

    fonds = Fonds.objects.filter(code=args.fonds).first()
    if fonds is None:
        print(f"全宗 {args.fonds} 不存在 / fonds {args.fonds} not found")
        return 2
    category = None
    if args.category:
        category = Category.objects.filter(name=args.category).first()
        if category is None:
            print(f"门类 {args.category} 不存在 / unknown category {args.category}")
            return 2
    result = volumes_assemble(fonds=fonds, fiscal_year=args.year, category=category,
                              actor=system_user(name="kjda:cli", roles=["archivist"]))
    print(f"{result.items} 件 → {result.volumes} 卷（新建 {result.created}，移动 {result.moved}，"
          f"删除空卷 {result.removed}） / {result.items} items in {result.volumes} volumes "
          f"({result.created} created, {result.moved} moved, {result.removed} emptied removed)")
    return 0


def cmd_package_export(args: argparse.Namespace) -> int:
    """A transfer package (进馆移交包) of a fonds' year, as the CLI's system user."""
    django_setup()
    from kjda.accounts.services import system_user
    from kjda.errors import DomainError
    from kjda.lifecycle.packages.services import package_export

    try:
        result = package_export(actor=system_user(name="kjda:cli", roles=["archivist"]),
                                fonds_code=args.fonds, year=args.year, dest=Path(args.dest),
                                volumes=args.volume or ())
    except DomainError as exc:
        print(f"{exc.zh} / {exc.en}", file=sys.stderr)
        return 2
    print(f"{result.records} 件、{result.volumes} 卷 → {result.path} / {result.records} records, "
          f"{result.volumes} volumes → {result.path}")
    print(f"签名密钥指纹 / signing key fingerprint: {result.key_fingerprint}")
    return 0


def cmd_package_import(args: argparse.Namespace) -> int:
    """Verify a transfer package and import it (nothing is imported from a tampered one)."""
    django_setup()
    from kjda.accounts.services import system_user
    from kjda.errors import DomainError
    from kjda.lifecycle.packages.services import package_import

    try:
        result = package_import(actor=system_user(name="kjda:cli", roles=["archivist"]),
                                src=Path(args.src), key_fingerprint=args.key_fingerprint or "")
    except DomainError as exc:
        print(f"{exc.zh} / {exc.en}", file=sys.stderr)
        return 2
    print(f"导入 {result.created} 件，已有 {result.skipped} 件，{result.volumes} 卷 / imported "
          f"{result.created}, already present {result.skipped}, {result.volumes} volumes")
    return 0


def cmd_watermark_inspect(args: argparse.Namespace) -> int:
    """The mark in a copy a reader took away, and whom the audit log says it was given to.
    Exit 0: a mark whose signature verifies; 1: no mark; 2: a mark that does not verify."""
    django_setup()
    from kjda.lifecycle.file_use import watermark_trace

    data = Path(args.file).read_bytes()
    trace = watermark_trace(data, mark_id=args.mark_id)
    found = trace.found
    if found is None:
        print(f"未发现水印 / no watermark found in {args.file}", file=sys.stderr)
    else:
        m = found.mark
        verdict = ("有效 / verified" if found.verified
                   else "无效：伪造或非本系统签发 / NOT VERIFIED: forged or not ours")
        print(f"水印 / watermark ({found.source})\n"
              f"  标识 / mark id: {m.mark_id}\n  借阅单号 / loan no: {m.loan_no or '-'}\n"
              f"  人员 / person: {m.person}\n  部门 / department: {m.department or '-'}\n"
              f"  时间 / time: {m.time}\n  签名 / signature: {verdict}")
    if trace.events:
        print("追溯 / traced in the audit log:")
        for e in trace.events:
            print(f"  #{e['seq']} {e['at']} 用户 user {e['user']} 文件 file {e.get('file')} "
                  f"(给出 given {e.get('given')}) 档案 record {e.get('record')} "
                  f"借阅单 loan {e.get('loan') or '-'} ({e.get('use')})")
    elif found is not None or args.mark_id:
        print("审计日志中没有该水印 / the audit log has no response with this mark")
    if found is None:
        return 0 if args.mark_id and trace.events else 1
    return 0 if found.verified else 2


def _passphrase() -> str:
    return os.environ.get("KJDA_BACKUP_PASSPHRASE", "")


def cmd_backup(args: argparse.Namespace) -> int:
    """`kjda backup DEST` writes a set; `kjda backup verify DEST` checks one without restoring."""
    words = list(args.words)
    if words[0] == "verify":
        if len(words) != 2:
            print("用法 / usage: kjda backup verify DEST [--set ID]", file=sys.stderr)
            return 2
        return _backup_verify(Path(words[1]), args.set)
    if len(words) != 1:
        print("用法 / usage: kjda backup DEST | kjda backup verify DEST", file=sys.stderr)
        return 2
    django_setup()
    from kjda.errors import DomainError
    from kjda.preservation.backup.services import backup_create

    try:
        run = backup_create(dest=words[0], passphrase=_passphrase())
    except DomainError as exc:
        print(f"备份失败 / backup FAILED: {exc.message}", file=sys.stderr)
        return 1
    print(f"备份完成 / backup written: set {run.set_id} ({run.kind}) in {run.dest}: "
          f"{run.blob_count} blobs ({run.new_blob_count} new), {run.written_bytes} B written, "
          f"{run.total_bytes} B in the set")
    return 0


def _backup_verify(dest: Path, set_id: str | None) -> int:
    from kjda.preservation.backup.archive import BackupError, backup_check

    try:
        report = backup_check(dest, _passphrase(), set_id=set_id)
    except BackupError as exc:
        print(f"备份检查失败 / backup check FAILED: {exc}", file=sys.stderr)
        return 1
    if not report.ok:
        print(f"备份 {report.set_id} 有 {len(report.problems)} 处问题 / backup set "
              f"{report.set_id} has {len(report.problems)} problem(s):", file=sys.stderr)
        for problem in report.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"备份完好 / backup OK: set {report.set_id}: database {report.database}, "
          f"{report.blobs} blobs ({report.blob_bytes} B) verified (sha256+sm3+size), "
          "keys decrypt")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Onto an EMPTY data directory: the keys and the SQLite database are written before
    Django starts (its settings read the keys), then the blobs go into the store."""
    from kjda.preservation.backup.archive import BackupError, restore_prepare

    data_dir = Path(os.environ.get("KJDA_DATA_DIR", "./kjda-data")).resolve()
    try:
        restore_prepare(Path(args.dest), _passphrase(), data_dir, set_id=args.set,
                        sqlite=not os.environ.get("DATABASE_URL"))
    except BackupError as exc:
        print(f"恢复失败 / restore FAILED: {exc}", file=sys.stderr)
        return 1
    django_setup()
    from kjda.errors import DomainError
    from kjda.preservation.backup.services import backup_restore

    try:
        result = backup_restore(dest=args.dest, passphrase=_passphrase(), set_id=args.set)
    except DomainError as exc:
        print(f"恢复失败 / restore FAILED: {exc.message}", file=sys.stderr)
        return 1
    print(f"恢复完成 / restored set {result['set']} into {data_dir}: database "
          f"{result['database']}, {result['blobs']} blobs put back and verified, "
          f"{result['checkpoints']} audit checkpoints. Next: kjda audit verify; kjda serve")
    return 0


def cmd_monitor_check(args: argparse.Namespace) -> int:
    """Run the monitor's probes once and print the open alarms: exit 1 when any is open."""
    django_setup()
    from kjda.preservation.monitoring.selectors import alarms_open
    from kjda.preservation.monitoring.services import monitor_check

    report = monitor_check()
    for error in report.errors:
        print(f"探测失败 / probe failed: {error}", file=sys.stderr)
    open_alarms = alarms_open()
    print(f"未确认告警 / open alarms: {len(open_alarms)} (raised or seen now: "
          f"{len(report.raised)}, cleared now: {len(report.cleared)})")
    for a in open_alarms:
        state = "cleared" if a.cleared_at else "active"
        print(f"  #{a.pk} {a.severity:8} {a.kind:20} {state:7} x{a.times_seen} "
              f"{a.last_seen_at:%Y-%m-%d %H:%M}  {a.title_zh} / {a.title_en}")
    return 1 if open_alarms else 0


def cmd_manage(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kjda.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["kjda manage", *args.rest])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kjda", description="KJDA 电子会计档案管理系统")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate, seed and start the web server + task worker")
    serve.add_argument("--host", default=os.environ.get("KJDA_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("KJDA_PORT", "8000")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("KJDA_WORKERS", "0")),
                       help="web worker processes (default: one per core)")
    serve.add_argument("--threads", type=int, default=int(os.environ.get("KJDA_THREADS", "32")),
                       help="threads per web worker process")
    serve.add_argument("--task-workers", type=int,
                       default=int(os.environ.get("KJDA_TASK_WORKERS", "0")),
                       help="task worker processes started beside the server (default: one "
                            "per core)")
    serve.add_argument("--worker-nice", type=int,
                       default=int(os.environ.get("KJDA_WORKER_NICE", "10")),
                       help="CPU priority of the task workers (nice increment, default 10)")
    serve.add_argument("--server", choices=["granian", "gunicorn"],
                       default=os.environ.get("KJDA_SERVER", "granian"))
    serve.add_argument("--no-worker", action="store_true",
                       help="start no task workers (run `kjda worker` elsewhere)")
    serve.set_defaults(func=cmd_serve)
    worker = sub.add_parser("worker", help="run a task worker")
    worker.add_argument("--interval", type=float, default=1.0)
    worker.add_argument("--intake-threads", type=int,
                        default=int(os.environ.get("KJDA_INTAKE_THREADS", "2")),
                        help="threads archiving received OA events")
    worker.add_argument("--nice", type=int, default=0, help="lower this worker's CPU priority")
    worker.add_argument("--parent-pid", type=int, default=0, help=argparse.SUPPRESS)
    worker.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    worker.add_argument("--count", type=int, default=1, help=argparse.SUPPRESS)
    worker.set_defaults(func=cmd_worker)
    audit = sub.add_parser("audit", help="audit log tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="recompute the audit hash chain and check it "
                                                 "against the latest signed checkpoint")
    verify.set_defaults(func=cmd_audit)
    checkpoint = audit_sub.add_parser("checkpoint", help="write a signed checkpoint of the audit "
                                                         "chain to the blob store now")
    checkpoint.set_defaults(func=cmd_audit_checkpoint)
    rotate = audit_sub.add_parser("rotate-key", help="start a new audit key (the old ones are "
                                                     "kept to verify older events)")
    rotate.set_defaults(func=cmd_audit_rotate_key)
    keys = sub.add_parser("keys", help="the keys every node of a multi-node deployment shares")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    kexport = keys_sub.add_parser("export", help="print this data dir's keys as environment "
                                  "lines (KJDA_SECRET_KEY=…) for the other nodes")
    kexport.set_defaults(func=cmd_keys_export)
    storage = sub.add_parser("storage", help="blob store tools")
    storage_sub = storage.add_subparsers(dest="storage_command", required=True)
    check = storage_sub.add_parser(
        "check", help="list orphaned blob files and stale temp files, and the last sweep")
    check.add_argument("--sweep", action="store_true",
                       help="remove them now (only those older than KJDA_ORPHAN_GRACE_HOURS)")
    which = check.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true",
                       help="fixity audit of every blob now (default: the scheduled share)")
    which.add_argument("--sample", type=int, metavar="N", help="fixity audit of N random blobs")
    check.add_argument("--rate", type=float, default=0, metavar="BYTES_PER_SECOND",
                       help="limit the audit's reading (default 0: unthrottled)")
    check.set_defaults(func=cmd_storage_check)
    restore = storage_sub.add_parser(
        "restore-from-replica", help="rebuild a lost primary store from KJDA_REPLICA_URL")
    restore.set_defaults(func=cmd_storage_restore)
    formats = sub.add_parser("formats", help="格式监测: the format registry and migrations")
    formats_sub = formats.add_subparsers(dest="formats_command", required=True)
    formats_sub.add_parser("list", help="formats, risk flags and files per format").set_defaults(
        func=cmd_formats_list)
    fflag = formats_sub.add_parser("flag", help="flag a format at risk (queues the migration)")
    fflag.add_argument("format_id", help="PRONOM id (fmt/43) or local id (kjda/ofd)")
    fflag.add_argument("--reason", help="why the format is at risk (required to flag)")
    fflag.add_argument("--unflag", action="store_true", help="clear the flag instead")
    fflag.set_defaults(func=cmd_formats_flag)
    fmigrate = formats_sub.add_parser("migrate", help="migrate a flagged format's files now")
    fmigrate.add_argument("format_id")
    fmigrate.set_defaults(func=cmd_formats_migrate)
    reindex = sub.add_parser("reindex", help="rebuild the full-text search index")
    reindex.set_defaults(func=cmd_reindex)
    dsync = sub.add_parser("directory-sync",
                           help="sync departments and leavers from the OA directories")
    dsync.add_argument("--connector", help="only this connector (its id)")
    dsync.set_defaults(func=cmd_directory_sync)
    volumes = sub.add_parser("volumes", help="组卷: assemble volumes by the fonds' rules")
    volumes_sub = volumes.add_subparsers(dest="volumes_command", required=True)
    assemble = volumes_sub.add_parser("assemble", help="put a year's filed records into volumes")
    assemble.add_argument("--fonds", required=True, help="全宗号, e.g. Z001")
    assemble.add_argument("--year", required=True, type=int, help="会计年度")
    assemble.add_argument("--category", help="门类, e.g. 会计凭证 (default: all)")
    assemble.set_defaults(func=cmd_volumes_assemble)
    package = sub.add_parser("package", help="进馆移交包: DA/T 48 EEPs in a BagIt bag")
    package_sub = package.add_subparsers(dest="package_command", required=True)
    pexport = package_sub.add_parser("export", help="export a fonds' year as a transfer package")
    pexport.add_argument("--fonds", required=True, help="全宗号, e.g. Z001")
    pexport.add_argument("--year", required=True, type=int, help="会计年度")
    pexport.add_argument("--volume", action="append", help="only this volume (案卷档号), repeatable")
    pexport.add_argument("dest", help="a new (or empty) directory")
    pexport.set_defaults(func=cmd_package_export)
    pimport = package_sub.add_parser("import", help="verify and import a transfer package")
    pimport.add_argument("src")
    pimport.add_argument("--key-fingerprint", help="the sender's signing key (SHA-256 of its "
                         "public key, printed by the export): refuse a package signed by another")
    pimport.set_defaults(func=cmd_package_import)
    wm = sub.add_parser("watermark", help="借阅水印: read the mark in a copy")
    wm_sub = wm.add_subparsers(dest="watermark_command", required=True)
    inspect = wm_sub.add_parser("inspect", help="print the mark in FILE (PDF or image) and the "
                                "loan and user it traces back to; exit 1 when there is none")
    inspect.add_argument("file")
    inspect.add_argument("--mark-id", help="trace this mark id (e.g. read off a print-out)")
    inspect.set_defaults(func=cmd_watermark_inspect)
    backup = sub.add_parser("backup", help="备份: write a backup set to DEST (incremental), or "
                            "`backup verify DEST` to check one; KJDA_BACKUP_PASSPHRASE")
    backup.add_argument("words", nargs="+", metavar="[verify] DEST")
    backup.add_argument("--set", default=None, help="verify this set (default: the newest)")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="恢复: restore the newest backup set in DEST onto an "
                             "empty KJDA_DATA_DIR (and an empty database)")
    restore.add_argument("dest")
    restore.add_argument("--set", default=None, help="restore this set (default: the newest)")
    restore.set_defaults(func=cmd_restore)
    monitor = sub.add_parser("monitor", help="监控告警: storage and system monitoring")
    monitor_sub = monitor.add_subparsers(dest="monitor_command", required=True)
    mcheck = monitor_sub.add_parser("check", help="run the probes once and print the open "
                                                  "alarms (exit 1 if any is open)")
    mcheck.set_defaults(func=cmd_monitor_check)
    manage = sub.add_parser("manage", help="run a Django management command")
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    manage.set_defaults(func=cmd_manage)
    _plugin_commands(sub)
    return parser


# Commands that live in other distributions (kjda-oasim: `demo`, `oa-sim`) register here, so the
# runtime package neither ships nor imports them.
COMMANDS_GROUP = "kjda.commands"
OPTIONAL_COMMANDS = {"demo": "load a realistic year of sample records (kjda-oasim)",
                     "oa-sim": "run the OA simulator (kjda-oasim)"}


def _plugin_commands(sub) -> None:
    from importlib.metadata import entry_points

    registered = set()
    for ep in entry_points(group=COMMANDS_GROUP):
        ep.load()(sub)
        registered.add(ep.name)
    for name, help_text in OPTIONAL_COMMANDS.items():
        if name not in registered:
            sub.add_parser(name, help=help_text).set_defaults(func=_cmd_missing)


def _cmd_missing(args: argparse.Namespace) -> int:
    print(f"`kjda {args.command}` 需要安装 kjda-oasim（在源码目录中：pip install -e ./oasim）/ "
          f"`kjda {args.command}` needs kjda-oasim: pip install -e ./oasim (in the source "
          "checkout) or pip install 'kjda[demo]'", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.func is not _cmd_missing:  # a missing command's options are unknown
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

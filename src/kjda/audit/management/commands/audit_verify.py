"""`manage.py audit_verify`: recompute the audit hash chain; exit 1 naming the first bad event."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kjda.audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "校验审计日志哈希链 / verify the audit log hash chain"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=5000,
                            help="events read per query (default 5000)")

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_chain_verify(batch_size=options["batch_size"])
        if result.ok:
            self.stdout.write(self.style.SUCCESS(result.reason))
            return
        where = f"#{result.first_bad_seq}" if result.first_bad_seq is not None else "-"
        self.stderr.write(self.style.ERROR(
            f"审计链已损坏，首个问题事件 {where}（已校验 {result.checked} 个） / audit chain "
            f"broken, first bad event {where} ({result.checked} verified before it)\n"
            f"{result.reason}"
        ))
        raise SystemExit(1)

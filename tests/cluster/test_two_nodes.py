"""Two web nodes and two task workers on one PostgreSQL database and one S3 store (issue 19
item 7): one web node and one worker are SIGKILLed in the middle of API uploads and OA
callbacks; the survivors finish everything. Afterwards every upload acknowledged to its client
and every callback accepted is filed exactly once, 档号 are unique and gap-free per class, no
inbox event is stuck, the audit chain verifies and the fixity audit finds both copies intact.

Every process gets the same environment (database, stores, keys) and its OWN empty
KJDA_DATA_DIR: nothing a node keeps locally is needed by another. Searches on the web nodes read
through a role that may only SELECT (KJDA_SEARCH_DATABASE_URL), as a read replica would serve
them. Runs in the PostgreSQL leg of scripts/test.sh; skipped on SQLite."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from .nodes import (
    Cluster,
    cluster_database,
    moto_server,
    multipart,
    post,
    setup_site,
)

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="the two-node test runs on PostgreSQL (DATABASE_URL)"),
]
UPLOADS = 24
CALLBACKS = UPLOADS  # one callback beside each upload
PROCESS_CODE = "PROC-REIMB-001"


def _upload_bodies() -> list[tuple[str, bytes, str]]:
    from kjda_oasim.factories import voucher_pdf

    bodies = []
    for i in range(UPLOADS):
        pdf = voucher_pdf(number=f"{i:05d}", summary=f"报销差旅费 第{i}笔",
                          amount=Decimal("1280.50"), day=date(2024, 3, 15))
        meta = {"category": "记账凭证", "fiscal_year": 2024, "period": 3,
                "title": f"报销差旅费 第{i}笔", "date": "2024-03-15", "amount": "1280.50",
                "department": "销售部", "applicant": "张三", "document_no": f"记-{i:06d}",
                # the upload's idempotency key: a retried upload answers 200 with the record
                "source_system": "cluster-test", "external_id": f"up-{i}"}
        body, ctype = multipart(meta, [(f"记-{i:06d}.pdf", pdf)])
        bodies.append((f"up-{i}", body, ctype))
    return bodies


def _callbacks(secret: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """Signed Standard Webhooks deliveries, each an approved reimbursement carrying its invoice."""
    from kjda.connectors import signing
    from kjda_oasim.factories import invoice_pdf

    out = []
    for i in range(CALLBACKS):
        pdf = invoice_pdf(number=f"2431000000{i:010d}", seller="某某酒店有限公司",
                          amount=Decimal("880.00"), day=date(2024, 3, 15))
        instance = f"CL-{i}"
        body = json.dumps({"type": "approval.approved", "id": f"evt-{i}", "instance": {
            "instance_id": instance, "process_code": PROCESS_CODE, "title": f"差旅费报销-{i}",
            "status": "approved", "result": "agree",
            "originator": {"id": "zhangsan", "name": "张三", "department": "销售部"},
            "created_at": "2024-03-15T09:00:00+08:00", "finished_at": "2024-03-16 10:30:00",
            "form": [{"id": "reason", "name": "报销事由", "value": f"上海出差 {i}", "kind": "text"},
                     {"id": "amount", "name": "报销金额", "value": "880.00", "kind": "money"},
                     {"id": "invoices", "name": "发票", "value": ["f1"], "kind": "attachment"}],
            "attachments": [{"file_id": "f1", "filename": "发票.pdf", "size": len(pdf),
                             "content_base64": base64.b64encode(pdf).decode(),
                             "sha256": hashlib.sha256(pdf).hexdigest()}],
            "trail": [{"actor_id": "lisi", "actor_name": "李四", "action": "审批",
                       "result": "agree", "time": "2024-03-16T10:30:00+08:00"}]}},
            ensure_ascii=False).encode()
        # Signed once: a retry sends the same message (same webhook-id), as a platform does.
        headers = {"Content-Type": "application/json",
                   **signing.signed_headers(secret, body, msg_id=f"msg_{i}")}
        out.append((instance, body, headers))
    return out


def test_killing_a_web_node_and_a_worker_mid_intake_loses_and_duplicates_nothing(tmp_path):
    with cluster_database() as db, moto_server() as s3, Cluster(tmp_path, db, s3) as cluster:
        secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        site = setup_site(cluster, webhook_secret=secret, process_code=PROCESS_CODE)
        web = [cluster.start_web(f"web{n}") for n in (1, 2)]
        workers = [cluster.start_worker(f"worker{n}") for n in (1, 2)]
        for node in web:
            cluster.wait_ready(node)
        uploads, callbacks = _upload_bodies(), _callbacks(secret)
        ports = [node.port for node in web]
        acked_uploads: dict[str, int] = {}
        accepted: list[str] = []
        retries = Counter()

        def upload(n: int) -> None:
            key, body, ctype = uploads[n]
            status = post(ports, n, "/api/v1/records", body,
                          {"Content-Type": ctype, "Authorization": f"Bearer {site['token']}"},
                          retries)
            assert status in (200, 201), (key, status)
            acked_uploads[key] = status

        def callback(n: int) -> None:
            instance, body, headers = callbacks[n]
            status = post(ports, n, site["callback_url"], body, headers, retries)
            assert status == 200, (instance, status)
            accepted.append(instance)

        victim_worker = workers[0]
        killed: dict[str, object] = {}

        def kill_worker_holding_an_event() -> None:
            # One intake thread per worker: two events in `processing` means each worker holds
            # one, so the victim dies with an event claimed.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                held = db.scalar("SELECT count(*) FROM connectors_inboxevent "
                                 "WHERE status = 'processing'")
                if held >= 2:
                    break
                time.sleep(0.02)
            held = set(db.rows("SELECT id, lease_until FROM connectors_inboxevent "
                               "WHERE status = 'processing'"))
            cluster.kill(victim_worker)
            killed["worker"] = time.monotonic()
            time.sleep(2.0)  # the survivor finishes its own event well within this
            still = set(db.rows("SELECT id, lease_until FROM connectors_inboxevent "
                                "WHERE status = 'processing'"))
            killed["orphaned"] = len(held & still)  # claimed by the dead worker, lease running

        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(kill_worker_holding_an_event)]
            for n in range(UPLOADS):  # uploads and callbacks interleaved: both in flight
                futures.append(pool.submit(upload, n))
                futures.append(pool.submit(callback, n))
                if n == UPLOADS // 3:
                    while len(acked_uploads) < UPLOADS // 4:
                        time.sleep(0.02)
                    cluster.kill(web[0])  # mid-upload: its clients retry on the other node
                    killed["web"] = time.monotonic()
            for future in futures:
                future.result()
        assert "web" in killed and "worker" in killed
        # The events the dead worker held wait for their lease (KJDA_INBOX_LEASE_SECONDS), then
        # the surviving worker takes them over.
        cluster.wait_until(lambda: db.scalar(
            "SELECT count(*) FROM connectors_inboxevent WHERE status <> 'done'") == 0,
            timeout=90, what="every inbox event archived")
        cluster.wait_until(lambda: db.scalar(
            "SELECT count(*) FROM storage_replicapending") == 0,
            timeout=90, what="every blob copied to the replica")

        # Exactly once: every acknowledged upload and accepted callback, no record twice.
        assert sorted(acked_uploads) == sorted(k for k, _, _ in uploads)
        assert sorted(accepted) == sorted(i for i, _, _ in callbacks)
        rows = db.rows("SELECT source_system, external_id FROM archives_record")
        keys = Counter(rows)
        assert [k for k, n in keys.items() if n > 1] == []
        assert {e for s, e in keys if s == "cluster-test"} == set(acked_uploads)
        assert {e for s, e in keys if s == "webhook"} == set(accepted)
        assert db.scalar("SELECT count(*) FROM connectors_inboxevent") == CALLBACKS
        # 档号: unique, and per class numbered 1..n without a gap.
        numbers = db.rows("SELECT fonds_id, class_code, item_no, archive_no FROM archives_record "
                          "WHERE archive_no <> ''")
        assert len(numbers) == UPLOADS + CALLBACKS
        assert len({r[3] for r in numbers}) == len(numbers)
        by_class: dict[tuple, list[int]] = {}
        for fonds, class_code, item_no, _ in numbers:
            by_class.setdefault((fonds, class_code), []).append(item_no)
        for items in by_class.values():
            assert sorted(items) == list(range(1, len(items) + 1))
        # A search on the surviving web node, through the read-only role.
        found = cluster.get_json(web[1], "/api/v1/records?" + urlencode({"q": "差旅", "limit": 5}), site["token"])
        assert found["count"] == UPLOADS + CALLBACKS

        verify = cluster.run("audit", "verify")
        assert verify.returncode == 0, verify.stderr
        check = cluster.run("storage", "check", "--all")
        assert check.returncode == 0, check.stdout + check.stderr
        counts = dict(re.findall(r"(mismatches|missing|replica mismatches|replica missing) (\d+)",
                                 check.stdout))
        assert counts == {"mismatches": "0", "missing": "0", "replica mismatches": "0",
                          "replica missing": "0"}, check.stdout
        checked = int(re.search(r"(\d+) blobs, \d+ B checked", check.stdout).group(1))
        assert checked >= UPLOADS + CALLBACKS
        # The surviving nodes are still the ones running; the killed ones stayed dead.
        assert web[1].proc.poll() is None and workers[1].proc.poll() is None
        assert web[0].proc.returncode == -signal.SIGKILL
        assert victim_worker.proc.returncode == -signal.SIGKILL
        print(f"\ncluster: {UPLOADS} uploads + {CALLBACKS} callbacks, client retries "
              f"{dict(retries)}, events the killed worker held: "
              f"{killed['orphaned']} (taken over after the lease), {checked} blobs audited on both copies")

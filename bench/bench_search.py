"""Chinese full-text search through the HTTP API over 1,000,000 records, SQLite and PostgreSQL.

Run: python bench/bench_search.py [--db sqlite|postgres|both] [--records 1000000] [--queries 200]

For each database it builds (once; cached under bench/out/, reused while the corpus and index
versions match) a realistic corpus: vouchers, ledgers, reports and bank statements for 2015–2024
with titles like 报销差旅费 / 采购办公用品 / 支付供应商货款, departments, applicants, amounts and
100–300 characters of extracted voucher/invoice text per record. Rows are bulk-inserted; the index
is filled with `search_index_bulk`, the same code a re-index uses. Then it starts the real server
(`kjda serve --no-worker`) on a loopback port, takes a bearer token, and times
`GET /api/v1/records?q=…` (first page of 20 and the total count, audit-logged) with a keep-alive
client: p50/p95/max per query class. Everything stops by itself.

Options: --rebuild (new corpus), --reindex (keep the records, rebuild the index),
--pg-url (default postgres://postgres@127.0.0.1:5432/kjda_bench), --explain RUNS (default 5:
after the timing, each query's two statements, first page and count, are run RUNS times under
EXPLAIN ANALYZE and their median server-side time printed: on a shared machine these show what
the database itself takes, apart from waiting for a core). PostgreSQL's settings that matter
here (shared_buffers, work_mem, parallel workers, JIT …) are printed with the figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(os.environ.get("KJDA_BENCH_OUT", ROOT / "bench" / "out"))
PG_URL = "postgres://postgres@127.0.0.1:5432/kjda_bench"
ADMIN_PASSWORD = "Bench-Admin-Pass-2024"  # noqa: S105 - a throw-away bench database
CORPUS_VERSION = 1  # bump when the generator changes: the records are rebuilt
BATCH = 5000

# Query classes: (name, queries cycled through)
QUERY_CLASSES: list[tuple[str, list[str]]] = [
    ("2-char common", ["差旅", "报销"]),
    ("2-char rare", ["钢琴", "骆驼", "滑雪", "古筝", "琥珀", "潜水", "雕塑", "鲸鱼"]),
    ("4-char", ["报销差旅", "办公用品"]),
]
# Scoped users (issue #2: the figures hold for them too): (username, roles, fonds, departments,
# person name); the employee's name is the most frequent applicant of the corpus (set at run time).
SCOPED_USERS: list[tuple[str, list[str], list[str], list[str], str]] = [
    ("bench-archivist-z002", ["archivist"], ["Z002"], [], ""),
    ("bench-accountant-z001", ["accountant"], ["Z001"], ["财务部", "销售部"], ""),
    ("bench-employee", ["employee"], [], [], "?"),
]
SCOPED_CLASSES = ["2-char common", "2-char rare", "4-char"]
SERVER_NOTES: list[str] = []  # the database server's settings, printed with the figures
USED_CLASSES: list[tuple[str, list[str]]] = []  # as timed (with the corpus' invoice numbers)
EXTRA_CLASSES: list[tuple[str, list[str]]] = [  # --extra: for information
    ("1-char", ["税", "租"]),
    ("3-char", ["差旅费", "手续费"]),
    ("5-char", ["报销差旅费", "支付供应商"]),
    ("2 words (AND)", ["差旅 北京", "货款 上海"]),
    ("invoice number", ["24310000000012345678", "93310000000000000001"]),
    ("no q (list all)", [""]),
]


# --------------------------------------------------------------------------- corpus

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红梅鹏飞宇浩然欣怡子涵博文俊"
DEPARTMENTS = ["财务部", "销售部", "采购部", "人力资源部", "行政部", "研发中心", "生产部", "市场部",
               "信息技术部", "法务部", "审计部", "仓储物流部", "客户服务部", "总经理办公室",
               "质量管理部"]
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "重庆", "天津",
          "苏州", "长沙", "郑州", "青岛", "济南", "合肥", "福州", "厦门", "昆明", "沈阳", "大连",
          "哈尔滨", "南昌", "贵阳", "南宁", "太原", "石家庄", "兰州", "乌鲁木齐"]
FIRM_WORDS = ["华信", "恒通", "鑫源", "永盛", "宏达", "瑞丰", "东方", "金桥", "新世纪", "汇通",
              "中联", "远航", "天成", "博远", "嘉禾", "万象", "正泰", "明德", "安泰", "联创"]
INDUSTRIES = ["商贸", "科技", "物流", "电子", "机械", "包装", "材料", "文化传媒", "建设工程",
              "信息技术", "餐饮管理", "酒店管理", "印务", "化工", "医疗器械"]
HOTELS = ["锦江之星", "如家", "汉庭", "全季", "亚朵", "维也纳", "希尔顿", "万豪", "洲际", "桔子"]
OFFICE_ITEMS = ["打印纸", "签字笔", "文件夹", "墨盒", "订书机", "笔记本", "计算器", "档案盒", "硒鼓",
                "白板笔"]
RARE = ["钢琴", "骆驼", "滑雪", "古筝", "琥珀", "潜水", "雕塑"]  # 鲸鱼 never occurs
ACCOUNTS = {"差旅": "管理费用—差旅费", "招待": "管理费用—业务招待费", "办公": "管理费用—办公费",
            "交通": "管理费用—交通费", "通讯": "管理费用—通讯费", "培训": "管理费用—职工教育经费",
            "房租": "管理费用—租赁费", "水电": "管理费用—水电费", "工资": "应付职工薪酬—工资",
            "折旧": "管理费用—折旧费", "手续费": "财务费用—手续费", "税": "应交税费—应交增值税",
            "货款": "应付账款", "回款": "应收账款", "原材料": "原材料", "收入": "主营业务收入"}
BANKS = ["中国工商银行", "中国建设银行", "招商银行", "中国银行", "交通银行", "浦发银行"]


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _firm(rng: random.Random) -> str:
    return rng.choice(CITIES) + rng.choice(FIRM_WORDS) + rng.choice(INDUSTRIES) + "有限公司"


def _invoice(rng: random.Random, item: str, seller: str, amount: float, day: str) -> str:
    number = "".join(rng.choice("0123456789") for _ in range(20))
    return (f"电子发票（普通发票） 发票号码：{number} 开票日期：{day} 购买方名称：本公司 "
            f"销售方名称：{seller} 项目名称：{item} 税率：6% 价税合计：{amount:.2f}元")


def _business(rng: random.Random, month: int):
    """(kind, title, summary, invoice item or None, seller, rule name)."""
    roll = rng.random() * 100
    city = rng.choice(CITIES)
    if roll < 12:
        title = rng.choice([f"报销{city}出差差旅费", "报销差旅费", f"报销{month}月差旅费"])
        return "差旅", title, title, rng.choice(["*住宿服务*住宿费", "*运输服务*客运服务费"]), \
            f"{city}{rng.choice(HOTELS)}酒店有限公司", "原始凭证" if roll < 5 else "记账凭证"
    if roll < 18:
        return "招待", "报销业务招待费", "报销业务招待费", "*餐饮服务*餐费", \
            f"{city}{rng.choice(FIRM_WORDS)}餐饮管理有限公司", "记账凭证"
    if roll < 24:
        item = rng.choice(OFFICE_ITEMS)
        title = rng.choice(["采购办公用品", f"报销办公用品费（{item}）", "领用办公用品"])
        return "办公", title, title, f"*纸制品*{item}", _firm(rng), "记账凭证"
    if roll < 34:
        firm = _firm(rng)
        return "货款", f"支付{firm}货款", "支付供应商货款", None, firm, "记账凭证"
    if roll < 44:
        firm = _firm(rng)
        return "回款", f"收到{firm}回款", "收到客户回款", None, firm, "记账凭证"
    if roll < 49:
        title = rng.choice([f"计提{month}月工资", f"发放{month}月工资"])
        return "工资", title, title, None, "", "记账凭证"
    if roll < 54:
        return "手续费", "银行手续费", f"支付{rng.choice(BANKS)}手续费", None, "", "记账凭证"
    if roll < 57:
        title = f"计提{month}月固定资产折旧"
        return "折旧", title, title, None, "", "记账凭证"
    if roll < 61:
        title = rng.choice([f"缴纳{month}月增值税", "代扣代缴个人所得税"])
        return "税", title, title, None, "", "记账凭证"
    if roll < 63:
        return "房租", "支付办公楼房租", "支付办公楼房租", "*经营租赁*房屋租赁费", _firm(rng), \
            "原始凭证"
    if roll < 66:
        return "水电", f"支付{month}月水电费", "支付水电费", "*供电*电费", f"{city}供电公司", \
            "原始凭证"
    if roll < 70:
        return "交通", "报销市内交通费", "报销市内交通费", "*运输服务*出租汽车客运服务", \
            f"{city}出租汽车有限公司", "原始凭证"
    if roll < 73:
        return "通讯", "报销通讯费", "报销通讯费", "*电信服务*通讯费", f"中国移动{city}分公司", \
            "原始凭证"
    if roll < 75:
        return "培训", "支付员工培训费", "支付员工培训费", "*教育服务*培训费", _firm(rng), \
            "原始凭证"
    if roll < 81:
        firm = _firm(rng)
        return "原材料", f"采购原材料（{firm}）", "采购原材料入库", "*钢材*原材料", firm, "原始凭证"
    if roll < 87:
        firm = _firm(rng)
        return "收入", f"确认{firm}销售收入", "确认销售商品收入", None, firm, "记账凭证"
    if roll < 90:
        return "报表", f"{month}月财务会计报告", "月度财务会计报告", None, "", \
            "月度、季度、半年度财务会计报告"
    if roll < 94:
        bank = rng.choice(BANKS)
        return "对账单", f"{bank}{month}月银行对账单", "银行对账单", None, bank, "银行对账单"
    if roll < 96:
        return "对账单", f"{month}月银行存款余额调节表", "银行存款余额调节表", None, "", \
            "银行存款余额调节表"
    if roll < 98:
        return "账簿", rng.choice(["管理费用明细账", "应收账款明细账", "银行存款日记账"]), \
            "账簿", None, "", rng.choice(["明细账", "日记账"])
    return "税", f"{month}月增值税纳税申报表", "纳税申报表", None, "", "纳税申报表"


def _record_values(rng: random.Random, year: int, seq: int):
    """Field values and extracted text for one record."""
    import datetime as dt

    month = rng.randint(1, 12)
    day = dt.date(year, month, rng.randint(1, 28))
    kind, title, summary, item, seller, rule = _business(rng, month)
    amount = round(rng.lognormvariate(7, 1.5), 2)
    applicant, dept = _name(rng), rng.choice(DEPARTMENTS)
    preparer, reviewer = _name(rng), _name(rng)
    vno = f"记-{seq % 10000:04d}"
    rare = rng.choice(RARE) if rng.random() < 0.0015 else ""
    if rare:
        item = f"*其他*{rare}相关费用"
    account = ACCOUNTS.get(kind, "管理费用—其他")
    lines = [f"记账凭证 凭证号：{vno} 日期：{day.isoformat()} 摘要：{summary}",
             f"借：{account} {amount:.2f} 贷：银行存款—{rng.choice(BANKS)} {amount:.2f}",
             f"附单据{rng.randint(1, 6)}张 制单：{preparer} 审核：{reviewer} 记账：{_name(rng)}"]
    if item and rng.random() < 0.8:
        lines.append(_invoice(rng, item, seller, amount, day.isoformat()))
    elif seller:
        lines.append(f"往来单位：{seller} 经办人：{applicant} 部门：{dept}")
    if rng.random() < 0.3:
        lines.append(f"{applicant}申请，{dept}负责人审批同意，{rng.choice(CITIES)}项目组")
    values = {"title": title, "date": day, "fiscal_year": year, "period": month,
              "department": dept, "applicant": applicant, "amount": amount, "document_no": vno,
              "voucher_type": "记", "preparer": preparer, "reviewer": reviewer,
              "responsible": "本公司财务部"}
    return rule, values, "\n".join(lines)


def _build(args: argparse.Namespace, kind: str) -> None:
    """Runs in a child process with Django set up for `kind`'s database."""
    import uuid
    from decimal import Decimal

    import django
    from django.core.management import call_command

    django.setup()
    from django.db import connection, transaction

    from kjda.archives.models import (
        Category,
        Fonds,
        Record,
        RecordStatus,
        RecordText,
        RetentionRule,
    )
    from kjda.archives.search import search_index_bulk

    marker = _marker_path(kind)
    state = json.loads(marker.read_text()) if marker.exists() else {}
    call_command("migrate", verbosity=0, interactive=False)
    have = Record.objects.count()
    rebuild = (args.rebuild or state.get("corpus") != CORPUS_VERSION
               or state.get("records") != args.records or have != args.records)
    t0 = time.perf_counter()
    if rebuild:
        print(f"[{kind}] building {args.records:,} records ...", flush=True)
        with connection.cursor() as cur:
            if kind == "postgres":
                cur.execute("TRUNCATE archives_search, archives_recordtext, archives_record, "
                            "archives_archivenocounter RESTART IDENTITY CASCADE")
            else:
                cur.execute("DELETE FROM archives_search")
                cur.execute("DELETE FROM archives_recordtext")
                cur.execute("DELETE FROM archives_record")
        rules = {r.name: r for r in RetentionRule.objects.select_related("category")}
        codes = {c.pk: c.default_code for c in Category.objects.all()}
        fonds = [Fonds.objects.get_or_create(code=code, defaults={"name": name, "unit_name": name})[0]
                 for code, name in (("Z001", "集团本部"), ("Z002", "华东子公司"), ("Z003", "华南子公司"))]
        rng = random.Random(20240101)
        counters: dict[tuple, int] = {}
        years = list(range(2015, 2025))
        per_year = args.records // len(years)
        seq = 0
        pending: list[tuple] = []
        with _index_build_mode(kind):
            for year in years:
                n = per_year if year != years[-1] else args.records - per_year * (len(years) - 1)
                for _ in range(n):
                    seq += 1
                    rule_name, values, text = _record_values(rng, year, seq)
                    rule = rules[rule_name]
                    f = fonds[0] if rng.random() < 0.6 else rng.choice(fonds[1:])
                    class_code = f"{codes[rule.category_id]}·{year}·{rule.retention}"
                    key = (f.code, class_code)
                    counters[key] = counters.get(key, 0) + 1
                    values["amount"] = Decimal(f"{values['amount']:.2f}")
                    rec = Record(record_no=uuid.UUID(int=rng.getrandbits(128), version=4),
                                 fonds=f, rule=rule, category=rule.category,
                                 status=RecordStatus.FILED, class_code=class_code,
                                 retention=rule.retention, item_no=counters[key],
                                 archive_no=f"{f.code}-{class_code}-{counters[key]:04d}",
                                 source_system="bench", external_id=f"bench-{seq}", **values)
                    pending.append((rec, text))
                    if len(pending) >= BATCH:
                        _flush(pending, Record, RecordText, search_index_bulk, transaction)
                        pending = []
                        if seq % 100_000 == 0:
                            print(f"[{kind}]   {seq:,} rows, {time.perf_counter() - t0:.0f} s",
                                  flush=True)
            if pending:
                _flush(pending, Record, RecordText, search_index_bulk, transaction)
        build_s = time.perf_counter() - t0
        state = {"corpus": CORPUS_VERSION, "records": args.records, "build_s": round(build_s)}
    elif args.reindex or state.get("index") != _index_version():
        print(f"[{kind}] re-indexing {have:,} records ...", flush=True)
        from kjda.archives.search import search_reindex

        with connection.cursor() as cur:
            cur.execute("DELETE FROM archives_search" if kind == "sqlite"
                        else "TRUNCATE archives_search")
        with _index_build_mode(kind):
            search_reindex(batch_size=BATCH)
        state["reindex_s"] = round(time.perf_counter() - t0)
    else:
        print(f"[{kind}] reusing the corpus in {_where(kind)}", flush=True)
        if "invoice_numbers" not in state:
            state["invoice_numbers"] = _invoice_numbers(RecordText)
            marker.write_text(json.dumps(state))
        return
    t1 = time.perf_counter()
    with connection.cursor() as cur:
        if kind == "postgres":
            cur.execute("VACUUM ANALYZE")
        else:
            cur.execute("ANALYZE")
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    state["analyze_s"] = round(time.perf_counter() - t1)
    state["index"] = _index_version()
    state["invoice_numbers"] = _invoice_numbers(RecordText)
    marker.write_text(json.dumps(state))
    print(f"[{kind}] built in {time.perf_counter() - t0:.0f} s", flush=True)


PG_SETTINGS = ["server_version", "shared_buffers", "effective_cache_size", "work_mem",
               "max_parallel_workers_per_gather", "jit", "effective_io_concurrency",
               "random_page_cost"]


def _explain(kind: str, queries: list[str], runs: int) -> None:
    """Runs in a child process: the server-side times of the two statements a search request
    makes (the first page and the count), as the API builds them, with EXPLAIN (ANALYZE,
    BUFFERS): median planning + execution time of `runs` runs, and the pages they touched."""
    import re

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from kjda.archives.selectors import RecordFilters, record_list

    users = get_user_model().objects.filter(
        username__in=["admin"] + [u[0] for u in SCOPED_USERS]).order_by("username")
    for actor, q in [(u, q) for u in users for q in queries]:
        qs = record_list(actor=actor, filters=RecordFilters(q=q))
        page_sql, page_params = qs[:20].query.sql_with_params()
        if qs._index_count is not None:  # the index-only count the API runs (see search.py)
            count_sql, count_params = qs._index_count
        else:
            inner, count_params = qs.query.sql_with_params()  # the join the count runs
            count_sql = f"SELECT count(*) FROM ({inner}) AS c"  # noqa: S608 - the ORM's SQL
        out = []
        for label, sql, params in (("page", page_sql, page_params),
                                   ("count", count_sql, count_params)):
            times, pages = [], ""
            for _ in range(runs):
                with transaction.atomic(), connection.cursor() as cur:
                    if kind == "postgres":
                        if label == "count":
                            cur.execute("SET LOCAL enable_seqscan = off")
                        cur.execute("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) " + sql, params)
                        plan = "\n".join(r[0] for r in cur.fetchall())
                        ms = sum(float(x) for x in re.findall(
                            r"(?:Planning|Execution) Time: ([\d.]+)", plan))
                        m = re.search(r"Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?", plan)
                        if m:
                            pages = f", pages hit {m.group(1) or 0} read {m.group(2) or 0}"
                    else:
                        t = time.perf_counter()
                        cur.execute(sql, params)
                        cur.fetchall()
                        ms = (time.perf_counter() - t) * 1000
                times.append(ms)
            out.append(f"{label} {statistics.median(times):.1f} ms{pages}")
        print(f"[{kind}]   server side, {actor.username.removeprefix('bench-')}, {q}: "
              + "; ".join(out), flush=True)


def _users() -> None:
    """Runs in a child process: creates (or resets) the scoped bench users."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from kjda.accounts.models import Profile
    from kjda.archives.models import Record

    applicant = (Record.objects.exclude(applicant="").values("applicant")
                 .annotate(n=Count("id")).order_by("-n").first() or {"applicant": "-"})["applicant"]
    for username, roles, fonds, departments, person in SCOPED_USERS:
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.set_password(ADMIN_PASSWORD)
        user.save()
        Profile.objects.update_or_create(user=user, defaults={
            "roles": roles, "fonds": fonds, "departments": departments,
            "person_name": applicant if person else "", "must_change_password": False})


def _invoice_numbers(RecordText) -> list[str]:  # noqa: N803
    import re

    texts = RecordText.objects.filter(record_id__in=[1001, 250_001, 500_001, 750_001])
    return [m.group(1) for t in texts.values_list("content", flat=True)
            if (m := re.search(r"发票号码：(\d{20})", t))][:2] or ["24310000000012345678"]


def _flush(pending, Record, RecordText, search_index_bulk, transaction) -> None:  # noqa: N803
    with transaction.atomic():
        records = Record.objects.bulk_create([r for r, _ in pending], batch_size=500)
        RecordText.objects.bulk_create(
            [RecordText(record_id=r.pk, content=t) for r, (_, t) in zip(records, pending, strict=True)],
            batch_size=2000)
        search_index_bulk(((r, t) for r, (_, t) in zip(records, pending, strict=True)),
                          batch_size=BATCH)


class _index_build_mode:  # noqa: N801
    """While bulk-loading: PostgreSQL drops the GIN index and rebuilds it once at the end (much
    faster than maintaining it row by row); SQLite merges the FTS segments at the end."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __enter__(self):
        from django.db import connection

        if self.kind == "postgres":
            with connection.cursor() as cur:
                cur.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'archives_search' "
                            "AND indexdef ILIKE '%%USING gin%%'")
                self.defs = [r[0] for r in cur.fetchall()]
                for d in self.defs:
                    cur.execute(f"DROP INDEX {d.split()[2]}")  # CREATE INDEX <name> ON ...
        return self

    def __exit__(self, *exc):
        from django.db import connection

        if exc[0] is not None:
            return False
        t = time.perf_counter()
        with connection.cursor() as cur:
            if self.kind == "postgres":
                cur.execute("SET maintenance_work_mem = '1GB'")
                for d in self.defs:
                    cur.execute(d)
            else:
                cur.execute("INSERT INTO archives_search(archives_search) VALUES ('optimize')")
        print(f"[{self.kind}]   index finished in {time.perf_counter() - t:.0f} s", flush=True)
        return False


def _index_version() -> str:
    """Changes when the token scheme changes: the index is then rebuilt from the records."""
    import hashlib

    from kjda.archives.search import grams_for_text, pg_tsvector_for_text

    sample = "报销差旅费 Hilton 2024 发票号码：24310000000012345678 采购办公用品（打印纸） é"
    both = grams_for_text(sample) + "|" + pg_tsvector_for_text(sample)
    return hashlib.sha256(both.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- server + client

def _where(kind: str) -> str:
    return str(OUT / kind) if kind == "sqlite" else PG_URL_CURRENT


PG_URL_CURRENT = PG_URL


def _marker_path(kind: str) -> Path:
    return OUT / kind / "corpus.json"


def _env(kind: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"KJDA_DATA_DIR": str(OUT / kind), "KJDA_ADMIN_PASSWORD": ADMIN_PASSWORD,
                # a throw-away instance: admin's password token without TOTP (serve warns)
                "KJDA_MFA_REQUIRED_ROLES": "none",
                "DJANGO_SETTINGS_MODULE": "kjda.settings", "KJDA_LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT / "src")})
    if kind == "postgres":
        env["DATABASE_URL"] = PG_URL_CURRENT
    return env


def _ensure_pg_database(url: str) -> None:
    import psycopg

    parts = urllib.parse.urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _pg_settings() -> str:
    import psycopg

    with psycopg.connect(PG_URL_CURRENT) as conn:
        values = conn.execute("SELECT " + ", ".join(f"current_setting('{s}')" for s in PG_SETTINGS)
                              ).fetchone()
    return ", ".join(f"{k}={v}" for k, v in zip(PG_SETTINGS, values, strict=True))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _db_size(kind: str) -> str:
    if kind == "sqlite":
        total = sum(p.stat().st_size for p in (OUT / kind).glob("kjda.sqlite3*"))
        return f"{total / 1e9:.2f} GB"
    import psycopg

    with psycopg.connect(PG_URL_CURRENT) as conn:
        db = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        idx = conn.execute("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                           "WHERE relname LIKE 'archives_search%%' AND relkind IN ('r','i')"
                           ).fetchone()[0]
    return f"{db / 1e9:.2f} GB (search table+index {float(idx) / 1e9:.2f} GB)"


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token = ""

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        return resp.status, (json.loads(payload) if payload else {})


def _worker_pass(kind: str) -> None:
    """Run what the warm-up queued for the worker (a search asks it for posting bitmaps and
    never builds them itself), as `kjda serve`'s in-process worker would within seconds."""
    env = _env(kind)
    if src := os.environ.get("KJDA_BENCH_SRC"):
        env["PYTHONPATH"] = src
    subprocess.run([sys.executable, "-m", "django", "db_worker", "--batch",  # noqa: S603
                    "--no-startup-delay", "--queue-name", "default"],
                   env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def _serve(kind: str):
    port = _free_port()
    log = open(OUT / kind / "server.log", "w")  # noqa: SIM115 - closed in _stop
    env = _env(kind)
    if src := os.environ.get("KJDA_BENCH_SRC"):  # time another tree's code (before/after)
        env["PYTHONPATH"] = src
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "kjda.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--no-worker"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: see {OUT / kind / 'server.log'}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port, log
        except OSError:
            time.sleep(0.3)
    _stop(proc, log)
    raise SystemExit("server did not start within 180 s")


def _stop(proc, log) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log.close()


def _measure(client: Client, queries: list[str], n: int) -> tuple[list[float], int]:
    times, hits = [], 0
    for i in range(n):
        q = queries[i % len(queries)]
        path = "/api/v1/records?" + urllib.parse.urlencode({"q": q, "limit": 20} if q else {})
        t = time.perf_counter()
        status, body = client.request("GET", path)
        times.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise SystemExit(f"GET {path} -> {status}: {body}")
        hits = max(hits, body["count"])
    return times, hits


def _run(kind: str, args: argparse.Namespace) -> list[tuple]:
    if kind == "postgres":
        _ensure_pg_database(PG_URL_CURRENT)
    (OUT / kind).mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    build = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "_build", kind, "--records", str(args.records)]
        + (["--rebuild"] if args.rebuild else []) + (["--reindex"] if args.reindex else []),
        env=_env(kind), cwd=ROOT, check=False)
    if build.returncode:
        raise SystemExit(f"[{kind}] build failed")
    state = json.loads(_marker_path(kind).read_text())
    print(f"[{kind}] corpus ready ({time.perf_counter() - t:.0f} s this run; "
          f"first build {state.get('build_s', '?')} s); size {_db_size(kind)}", flush=True)
    if kind == "postgres":
        SERVER_NOTES.append("PostgreSQL " + _pg_settings())
        print(f"[postgres] server: {SERVER_NOTES[-1]}", flush=True)
    if args.build_only:
        return []
    proc, port, log = _serve(kind)
    rows = []
    try:
        client = Client(port)
        status, body = client.request("POST", "/api/v1/auth/token",
                                      {"username": "admin", "password": ADMIN_PASSWORD})
        if status != 200:
            raise SystemExit(f"token: {status} {body}")
        client.token = body["token"]
        classes = QUERY_CLASSES + (EXTRA_CLASSES if args.extra else [])
        numbers = state.get("invoice_numbers") or ["24310000000012345678"]
        classes = [(name, numbers if name == "invoice number" else queries)
                   for name, queries in classes]
        USED_CLASSES[:] = classes
        for _, queries in classes:  # warm-up: caches, connections, plans
            _measure(client, queries, min(20, args.queries))
        _worker_pass(kind)
        load = os.getloadavg()[0]
        print(f"[{kind}] load average before timing: {load:.2f} on {os.cpu_count()} cores"
              + ("  (busy machine: figures are inflated)" if load > 1.5 else ""), flush=True)
        for name, queries in classes:
            times, hits = _measure(client, queries, args.queries)
            q = statistics.quantiles(times, n=100, method="inclusive")
            rows.append((kind, name, len(times), q[49], q[94], max(times), hits))
            print(f"[{kind}] {name}: p50 {q[49]:.1f} ms  p95 {q[94]:.1f} ms  max {max(times):.1f} ms",
                  flush=True)
        if not args.no_scoped:
            subprocess.run([sys.executable, __file__, "_users", kind], env=_env(kind),  # noqa: S603
                           cwd=ROOT, check=True)
            for username, *_ in SCOPED_USERS:
                user = Client(port)
                status, body = user.request("POST", "/api/v1/auth/token",
                                            {"username": username, "password": ADMIN_PASSWORD})
                if status != 200:
                    raise SystemExit(f"token for {username}: {status} {body}")
                user.token = body["token"]
                for name, queries in classes:
                    if name not in SCOPED_CLASSES:
                        continue
                    _measure(user, queries, min(20, args.queries))
                    _worker_pass(kind)
                    times, hits = _measure(user, queries, args.queries)
                    q = statistics.quantiles(times, n=100, method="inclusive")
                    label = f"{name} @{username.removeprefix('bench-')}"
                    rows.append((kind, label, len(times), q[49], q[94], max(times), hits))
                    print(f"[{kind}] {label}: p50 {q[49]:.1f} ms  p95 {q[94]:.1f} ms  "
                          f"max {max(times):.1f} ms  hits {hits:,}", flush=True)
        print(f"[{kind}] load average after timing: {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        _stop(proc, log)
    if args.explain:
        print(f"[{kind}] server-side statement times (median of {args.explain} runs each; "
              "on PostgreSQL the count is the GIN statement, which the API runs only for terms "
              "without posting bitmaps; the page as the API runs it):", flush=True)
        subprocess.run([sys.executable, __file__, "_explain", kind, "--runs", str(args.explain),  # noqa: S603
                        "--queries", *sorted({q for _, qq in USED_CLASSES for q in qq if q})],
                       env=_env(kind), cwd=ROOT, check=False)
    return rows


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(f"stopped by signal {signum}")  # unwinds through _run's finally: _stop


def main() -> None:
    global PG_URL_CURRENT
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if len(sys.argv) > 2 and sys.argv[1] == "_build":
        parser = argparse.ArgumentParser()
        parser.add_argument("_cmd")
        parser.add_argument("kind")
        parser.add_argument("--records", type=int, required=True)
        parser.add_argument("--rebuild", action="store_true")
        parser.add_argument("--reindex", action="store_true")
        args = parser.parse_args()
        sys.path.insert(0, str(ROOT / "src"))
        _build(args, args.kind)
        return
    if len(sys.argv) > 2 and sys.argv[1] == "_users":
        sys.path.insert(0, str(ROOT / "src"))
        _users()
        return
    if len(sys.argv) > 2 and sys.argv[1] == "_explain":
        parser = argparse.ArgumentParser()
        parser.add_argument("_cmd")
        parser.add_argument("kind")
        parser.add_argument("--runs", type=int, default=5)
        parser.add_argument("--queries", nargs="*", default=[])
        args = parser.parse_args()
        sys.path.insert(0, str(ROOT / "src"))
        _explain(args.kind, args.queries, args.runs)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="requests per query class")
    parser.add_argument("--rebuild", action="store_true", help="build a new corpus")
    parser.add_argument("--reindex", action="store_true", help="rebuild only the search index")
    parser.add_argument("--extra", action="store_true", help="also time 1/3/5-char, AND, no-q")
    parser.add_argument("--build-only", action="store_true", help="build or check, don't time")
    parser.add_argument("--no-scoped", action="store_true",
                        help="don't time the scoped users (one fonds, fonds + departments, an "
                             "employee who sees what they applied for)")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--explain", type=int, default=5, metavar="RUNS",
                        help="after timing, EXPLAIN ANALYZE each query's page and count "
                             "statements RUNS times (0: don't)")
    args = parser.parse_args()
    PG_URL_CURRENT = args.pg_url
    if urllib.parse.urlparse(PG_URL_CURRENT).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the benchmark only talks to loopback")
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    rows = []
    for kind in kinds:
        rows += _run(kind, args)
    print()
    print(f"GET /api/v1/records?q=… over {args.records:,} records, {args.queries} requests per "
          "class, first page of 20 + total count, bearer token, audit-logged")
    print(f"{'db':<9}{'query class':<36}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
          f"{'max hits':>10}")
    for kind, name, n, p50, p95, mx, hits in rows:
        print(f"{kind:<9}{name:<36}{n:>5}{p50:>9.1f}{p95:>9.1f}{mx:>9.1f}{hits:>10,}")
    for note in SERVER_NOTES:
        print(note)
    print("queries: " + "; ".join(f"{name}: {' / '.join(q or '-' for q in queries)}"
                                  for name, queries in USED_CLASSES))


if __name__ == "__main__":
    main()

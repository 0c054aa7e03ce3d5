"""四性检测 at the archiving stage (DA/T 70-2018 as applied by DA/T 94; standards.md §5.1).

Each check has the item code of the archiving stage (`GD-<property>-<n>`), a name, its property
(真实性/完整性/可用性/安全性), whether a failure blocks filing, and returns pass/fail/warn with a
reason. A record that fails a blocking check stays 待处理 (pending) with the reasons.
Checks that need the archive number (GD-1-7, GD-2-6) run after the number is assigned; the
duplicate check (GD-1-8) runs inside the filing transaction, before it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

from kjda.archives.models import retention_code_valid
from kjda.archives.numbering import archive_no_is_valid
from kjda.archives.selectors import item_no_taken
from kjda.formats.active_content import risky
from kjda.ingest.types import CheckResult, IncomingFile, IngestContext
from kjda.storage.services import blob_content_exists

AUTHENTICITY, INTEGRITY, USABILITY, SECURITY = "真实性", "完整性", "可用性", "安全性"
PASS, FAIL, WARN, SKIP = "pass", "fail", "warn", "skip"


def REF(i: int) -> str:  # noqa: N802 - reads as a placeholder in the message templates
    """The placeholder for the i-th record a check reason names (see CheckResult.refs)."""
    return f"\u27e6{i}\u27e7"


@dataclass
class Check:
    code: str
    name: str
    property: str
    blocking: bool
    run: Callable[[IngestContext], tuple]  # (result, reason) or (result, reason, refs)


# When a check runs: before the filing transaction (most), inside it before the number is
# assigned (those that look for other records, so that filings committed meanwhile are seen:
# on SQLite the writers run one at a time), or after the number is assigned.
BEFORE, FILING, AFTER = "before", "filing", "after"
_STAGES: dict[str, list[Check]] = {BEFORE: [], FILING: [], AFTER: []}
_ORDER: dict[str, int] = {}  # code → place in the report: the order the checks are declared


def check(code: str, name: str, prop: str, *, blocking: bool = True, stage: str = BEFORE):
    def wrap(fn: Callable[[IngestContext], tuple[str, str]]):
        _STAGES[stage].append(Check(code, name, prop, blocking, fn))
        _ORDER.setdefault(code, len(_ORDER))
        return fn
    return wrap


def run_checks(ctx: IngestContext, *, stage: str = BEFORE) -> list[CheckResult]:
    results = []
    for c in _STAGES[stage]:
        outcome, reason, *refs = c.run(ctx)
        results.append(CheckResult(c.code, c.name, c.property, outcome,
                                   c.blocking and outcome == FAIL, reason,
                                   refs[0] if refs else None))
    return results


def report(results: list[CheckResult]) -> dict:
    results = sorted(results, key=lambda r: _ORDER.get(r.code, 0))  # as declared, whatever stage
    return {
        "stage": "归档",
        "checked_at": timezone.now().isoformat(),
        "passed": not any(r.blocking for r in results),
        "blocking_failures": [r.code for r in results if r.blocking],
        "failures": [r.code for r in results if r.result == FAIL],
        "items": [r.as_dict() for r in results],
    }


# --- 真实性 (authenticity) ---------------------------------------------------------------------

@check("GD-1-1", "固化信息有效性检测（摘要值）", AUTHENTICITY)
def _digests(ctx: IngestContext) -> tuple[str, str]:
    bad = []
    for f in ctx.files:
        if f.meta.sha256 and f.meta.sha256.lower() != f.sha256:
            bad.append(f"{f.filename}: 声明的SHA-256与收到的内容不符 / declared SHA-256 differs")
        if f.stored_sha256 and f.stored_sha256 != f.sha256:
            bad.append(f"{f.filename}: 存储后校验不符 / stored copy does not verify")
    if bad:
        return FAIL, "; ".join(bad)
    return PASS, f"{len(ctx.files)} 个文件的 SHA-256/SM3 已计算并校验 / digests computed and verified"


@check("GD-1-1-2", "固化信息有效性检测（电子签名、电子印章）", AUTHENTICITY, blocking=False)
def _signatures(ctx: IngestContext) -> tuple[str, str]:
    # Reported per signature; an invalid one fails the item without holding the record back,
    # so the evidence is archived with the finding (财会〔2020〕6号: detect, keep the original).
    return signature_summary(ctx.files)


_LIMITS = {"title": 500, "responsible": 200, "document_no": 100, "department": 200,
           "applicant": 100, "abstract": 5000, "notes": 5000}


@check("GD-1-2", "元数据项数据长度检测", AUTHENTICITY)
def _lengths(ctx: IngestContext) -> tuple[str, str]:
    over = [k for k, limit in _LIMITS.items() if len(str(ctx.values.get(k) or "")) > limit]
    return (FAIL, f"超长 / too long: {', '.join(over)}") if over else (PASS, "")


@check("GD-1-3", "元数据项数据类型、格式检测", AUTHENTICITY)
def _types(ctx: IngestContext) -> tuple[str, str]:
    v, bad = ctx.values, []
    if not (isinstance(v.get("fiscal_year"), int) and 1000 <= v["fiscal_year"] <= 9999):
        bad.append("fiscal_year")
    if v.get("period") is not None and not 1 <= v["period"] <= 12:
        bad.append("period")
    if not re.fullmatch(r"[A-Z]{3}", v.get("currency", "")):
        bad.append("currency")
    return (FAIL, f"格式不符 / bad format: {', '.join(bad)}") if bad else (PASS, "")


@check("GD-1-4", "设定值域的元数据项值域符合度检测", AUTHENTICITY)
def _domains(ctx: IngestContext) -> tuple[str, str]:
    v, bad = ctx.values, []
    if not retention_code_valid(v["retention"]):  # Y, D<n> (附表2's D2, a local D50) or FA5
        bad.append("retention")
    if v.get("security_level") not in ("公开", "限制", "秘密", "机密", "绝密"):
        bad.append("security_level")
    if v.get("voucher_type") and v["voucher_type"] not in ("记", "收", "付", "转", "记账", "收款", "付款", "转账"):
        bad.append("voucher_type")
    return (FAIL, f"超出值域 / outside value domain: {', '.join(bad)}") if bad else (PASS, "")


@check("GD-1-5", "元数据项数据值合理性检测", AUTHENTICITY)
def _reasonable(ctx: IngestContext) -> tuple[str, str]:
    v, problems = ctx.values, []
    today = timezone.localdate()
    if v["date"] > today:
        problems.append("日期在未来 / date is in the future")
    if v["fiscal_year"] > today.year:
        problems.append("会计年度在未来 / fiscal year is in the future")
    if abs(v["date"].year - v["fiscal_year"]) > 1:
        problems.append("日期与会计年度相差超过一年 / date is more than a year from the fiscal year")
    for k in ("prepared_on", "reviewed_on"):
        if v.get(k) and v[k] > today:
            problems.append(f"{k} 在未来 / {k} is in the future")
    if v.get("amount") is not None and abs(v["amount"]) >= 10**15:
        problems.append("金额超出合理范围 / amount out of range")
    return (FAIL, "; ".join(problems)) if problems else (PASS, "")


# Control characters, U+FFFD, angle brackets, and the private-use characters (general category
# Co: exactly these three ranges) that render as nothing portable.
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd<>"
                        r"\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd]")


@check("GD-1-6", "元数据项数据包含特殊字符检测", AUTHENTICITY)
def _special_chars(ctx: IngestContext) -> tuple[str, str]:
    bad = [k for k, val in ctx.values.items() if isinstance(val, str) and _BAD_CHARS.search(val)]
    return (FAIL, f"含特殊字符 / special characters in: {', '.join(sorted(bad))}") if bad else (PASS, "")


@check("GD-1-8", "元数据项数据重复性检测", AUTHENTICITY, stage=FILING)
def _duplicates(ctx: IngestContext) -> tuple:
    # The other records are stored as ids (refs) and named when the report is read, for that
    # reader: the one who files may see them, a later reader with another scope may not.
    if ctx.duplicate_claims:  # 财会〔2020〕6号: the same invoice must not be claimed twice
        claims = list(ctx.duplicate_claims.items())
        first = ", ".join(f"{key} → {REF(i)}" for i, (key, _r) in enumerate(claims))
        return (FAIL, f"发票已报销（重复报销）：{first} / invoice already claimed (duplicate claim): "
                      f"{first}", [r.pk for _key, r in claims])
    if ctx.duplicate_document_of:
        return FAIL, (f"凭证/文件编号与已归档档案 {REF(0)} 重复 / document number "
                      f"duplicates filed record {REF(0)}"), [ctx.duplicate_document_of]
    if ctx.same_content_records:
        ids = ctx.same_content_records[:5]
        names = ", ".join(REF(i) for i in range(len(ids)))
        return (WARN, f"相同内容的文件已在档案 {names} 中 / identical file already in record(s) "
                      f"{names}", list(ids))
    return PASS, ""


@check("GD-1-9", "内容数据的电子属性一致性检测", AUTHENTICITY)
def _file_properties(ctx: IngestContext) -> tuple[str, str]:
    bad = []
    for f in ctx.files:
        if f.meta.size is not None and f.meta.size != f.size:
            bad.append(f"{f.filename}: 大小 {f.size} ≠ 声明 {f.meta.size} / size differs")
        if f.meta.format and f.meta.format.lower() not in (f.format.name, f.format.mime):
            bad.append(f"{f.filename}: 格式 {f.format.name} ≠ 声明 {f.meta.format} / format differs")
        if f.extension_mismatch:
            bad.append(f"{f.filename}: 扩展名与内容（{f.format.name}）不符 / extension does not match content")
        if f.mime_mismatch:
            bad.append(f"{f.filename}: 声明的类型 {f.declared_mime} 与内容（{f.format.mime}）不符 / "
                       "declared content type does not match content")
    return (FAIL, "; ".join(bad)) if bad else (PASS, "")


@check("GD-1-10", "元数据与内容关联一致性检测", AUTHENTICITY)
def _content_link(ctx: IngestContext) -> tuple[str, str]:
    # The Blob rows are written with the record's file rows, in one transaction.
    missing = [f.filename for f in ctx.files
               if not f.sha256 or not blob_content_exists(sha256=f.sha256)]
    if missing:
        return FAIL, f"存储中找不到内容 / content missing from the store: {', '.join(missing)}"
    return PASS, "每个文件的存储位置均可解析 / every file resolves to its stored content"


@check("GD-1-7", "档号规范性检测", AUTHENTICITY, stage=AFTER)
def _archive_no(ctx: IngestContext) -> tuple[str, str]:
    record = ctx.record
    if record is None or not record.archive_no:
        return SKIP, "按卷整理，封卷时编档号 / arranged by volume: numbered when the volume closes"
    ok = archive_no_is_valid(record.archive_no)
    return (PASS, record.archive_no) if ok else (FAIL, f"档号格式不符 / malformed: {record.archive_no}")


# --- 完整性 (integrity) ------------------------------------------------------------------------

@check("GD-2-1", "总件数相符性检测", INTEGRITY)
def _count(ctx: IngestContext) -> tuple[str, str]:
    received = [f for f in ctx.files if f.derived_from is None]  # not our renditions
    declared = ctx.metadata.file_count
    if declared is not None and declared != len(received):
        return FAIL, f"声明 {declared} 个文件，收到 {len(received)} / declared {declared}, got {len(received)}"
    return PASS, f"{len(received)} 个文件 / files"


@check("GD-2-2", "总字节数相符性检测", INTEGRITY)
def _bytes(ctx: IngestContext) -> tuple[str, str]:
    total = sum(f.size for f in ctx.files if f.derived_from is None)
    declared = ctx.metadata.total_bytes
    if declared is not None and declared != total:
        return FAIL, f"声明 {declared} 字节，收到 {total} / declared {declared} bytes, got {total}"
    return PASS, f"{total} 字节 / bytes"


REQUIRED = {"title": "题名 M22", "responsible": "责任者 M32", "date": "日期 M33",
            "fiscal_year": "年度 M11", "retention": "保管期限 M12", "security_level": "密级 M38"}


@check("GD-2-3", "元数据必填项检测", INTEGRITY)
def _required(ctx: IngestContext) -> tuple[str, str]:
    missing = [label for k, label in REQUIRED.items() if ctx.values.get(k) in (None, "")]
    if not ctx.fonds.unit_name:
        missing.append("立档单位名称 M6")
    return (FAIL, f"缺少 / missing: {', '.join(missing)}") if missing else (PASS, "")


@check("GD-2-6", "连续性元数据项检测", INTEGRITY, stage=AFTER)
def _continuity(ctx: IngestContext) -> tuple[str, str]:
    record = ctx.record
    if record is None or record.item_no is None:
        return SKIP, "尚未编件号 / no item number yet"
    if record.item_no == 1:
        return PASS, "件号 0001"
    prev = item_no_taken(fonds_id=record.fonds_id, class_code=record.class_code,
                         volume_no=record.volume_no, item_no=record.item_no - 1)
    return (PASS, f"件号 {record.item_no:04d} 接续 / follows") if prev else (
        FAIL, f"件号 {record.item_no:04d} 前有断号 / gap before item {record.item_no}")


@check("GD-2-7", "内容数据完整性检测", INTEGRITY)
def _content(ctx: IngestContext) -> tuple[str, str]:
    if not ctx.files:
        return FAIL, "没有内容文件 / no content files"
    empty = [f.filename for f in ctx.files if f.size == 0]
    return (FAIL, f"空文件 / empty: {', '.join(empty)}") if empty else (PASS, "")


@check("GD-2-8", "附件完整性检测", INTEGRITY)
def _attachments_complete(ctx: IngestContext) -> tuple[str, str]:
    missing = ctx.metadata.extra.get("missing_attachments") or []
    if missing:
        return FAIL, "缺少 / missing: " + ", ".join(str(m) for m in missing)
    return PASS, ""


# --- 可用性 (usability) ------------------------------------------------------------------------

@check("GD-3-2", "内容数据可读性检测", USABILITY)
def _readable(ctx: IngestContext) -> tuple[str, str]:
    bad = [f"{f.filename}: {'; '.join(f.probe.problems) or '无法读取 / unreadable'}"
           for f in ctx.files if not f.probe.readable and not f.probe.encrypted]
    return (FAIL, "; ".join(bad)) if bad else (PASS, "")


@check("GD-3-3", "内容数据格式合规性检测", USABILITY)
def _allowed_format(ctx: IngestContext) -> tuple[str, str]:
    bad = [f"{f.filename}: {f.format.name}" for f in ctx.files if not f.format.archival]
    if bad:
        return FAIL, "非长期保存格式（应为 OFD/PDF/XML/图像） / not an archival format: " + "; ".join(bad)
    return PASS, ", ".join(sorted({f.format.name for f in ctx.files}))


@check("GD-3-3.1", "长期保存格式（PDF/A）符合性检测", USABILITY, blocking=False)
def _long_term_format(ctx: IngestContext) -> tuple[str, str]:
    """Part of GD-3-3 (format compliance). A PDF is filed either way (DA/T 94 allows PDF); the
    PDF/A it claims and the clauses it breaks are recorded, and a false claim is a warning."""
    notes, broken = [], []
    for f in ctx.files:
        if f.rendition_note:
            notes.append(f"{f.filename}: {f.rendition_note}")
        if f.derived_from is not None:
            original = ctx.files[f.derived_from].filename
            notes.append(f"{f.filename}: {original} 的 PDF/A 转换件 / PDF/A rendition of {original}")
        verdict = f.probe.properties.get("pdfa")
        if not verdict:
            continue
        clauses = ", ".join(sorted({v["clause"] for v in verdict["violations"]}))
        if verdict["compliant"]:
            notes.append(f"{f.filename}: PDF/A-{verdict['claimed']} 符合 / compliant")
        elif verdict["claimed"]:
            broken.append(f"{f.filename}: 声称 PDF/A-{verdict['claimed']} 但不符合条款 {clauses} / "
                          f"claims PDF/A-{verdict['claimed']} but breaks clauses {clauses}")
        else:
            notes.append(f"{f.filename}: 非 PDF/A（对照 PDF/A-{verdict['checked_as']}："
                         f"{clauses}） / not PDF/A (against PDF/A-{verdict['checked_as']}: {clauses})")
    if broken:
        return WARN, "; ".join(broken + notes)
    return (PASS, "; ".join(notes)) if notes else (SKIP, "无 PDF 文件 / no PDF files")


@check("GD-3-5", "信息包无加密、无专有压缩检测", USABILITY)
def _no_encryption(ctx: IngestContext) -> tuple[str, str]:
    bad = [f.filename for f in ctx.files if f.probe.encrypted]
    return (FAIL, f"已加密 / encrypted: {', '.join(bad)}") if bad else (PASS, "")


# --- 安全性 (security) -------------------------------------------------------------------------

@check("GD-4-2", "恶意代码检测", SECURITY)
def _malicious(ctx: IngestContext) -> tuple[str, str]:
    bad = [f.filename for f in ctx.files if f.format.name == "executable"]
    if bad:
        return FAIL, f"可执行文件 / executable content: {', '.join(bad)}"
    return PASS, "未发现可执行内容（未配置病毒库扫描） / no executable content (no AV engine configured)"


@check("GD-4-2.1", "活动内容检测（脚本、动作、嵌入程序）", SECURITY)
def _active_content(ctx: IngestContext) -> tuple[str, str]:
    """Part of GD-4-2 (malicious code): PDF JavaScript, launch/import/submit actions, actions on
    open, local-file links, XFA scripts, embedded executables; OFD media/attachment actions and
    executable attachments (kjda.formats.active_content). KJDA_ACTIVE_CONTENT decides: `warn`
    files the record with this item as a warning, `hold` fails it (blocking: 待处理 for review)."""
    from django.conf import settings

    flagged, notes = [], []
    for f in ctx.files:
        if f.derived_from is not None:
            continue  # our renditions carry no active content (kjda.formats.pdfa strips it)
        findings = f.probe.properties.get("active_content") or []
        high = risky(findings)
        if high:
            flagged.append(f"{f.filename}: " + "; ".join(x["detail"] for x in high))
        notes += [f"{f.filename}: {x['detail']}" for x in findings if x not in high]
    if not flagged:
        return PASS, "; ".join(notes) or "未发现脚本、自动动作或嵌入程序 / no scripts, automatic " \
                                          "actions or embedded programs"
    if settings.KJDA_ACTIVE_CONTENT == "hold":
        return FAIL, ("文件含活动内容，已暂缓归档待人工审查 / active content found: held for review: "
                      + "; ".join(flagged + notes))
    return WARN, ("文件含活动内容，已归档但请勿在阅读器中启用脚本 / active content found: filed, "
                  "do not enable scripts when opening it: " + "; ".join(flagged + notes))


@check("GD-4-7", "归档过程安全性检测", SECURITY)
def _process(ctx: IngestContext) -> tuple[str, str]:
    if ctx.actor is None or not ctx.actor.is_authenticated:
        return FAIL, "归档操作者未认证 / archiving actor not authenticated"
    return PASS, f"经认证的操作者 {ctx.actor.get_username()}，过程已写入审计日志 / audited"


def signature_summary(files: list[IncomingFile]) -> tuple[str, str]:
    """(result, reason) of the 固化信息 (signature) check over all files, one clause per signature."""
    parts, statuses = [], []
    for f in files:
        for i, s in enumerate(f.signatures, start=1):
            statuses.append(s["status"])
            who = f"（{s['signer']}）" if s.get("signer") else ""
            seal = f"「{s['seal_name']}」" if s.get("seal_name") else ""
            tail = f": {s['reason']}" if s.get("reason") else ""
            parts.append(f"{f.filename} #{i} {s.get('kind', '')}{seal}{who} {s['status']}{tail}")
    if not statuses:
        return SKIP, "文件未含电子签名/电子印章 / no electronic signatures or seals in the files"
    if "invalid" in statuses:
        return FAIL, "; ".join(parts)
    if "unsupported" in statuses:
        return WARN, "; ".join(parts)
    return PASS, "; ".join(parts)

"""The transfer-stage 四性 checks (DA/T 70 移交与接收, codes `YJ-<property>-<n>`; 79号令 Art.12: the
archives department tests what it receives and accepts only what passes).

They look again at what the archive holds, not at what the record was when it was filed: the
stored bytes are re-hashed against the digests recorded at filing, counted and measured against
the metadata, identified again, and PDFs are searched again for active content.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import pikepdf

from kjda.archives.models import Record, RecordFile
from kjda.formats import handler_for, identify
from kjda.formats.active_content import pdf_active_content, risky
from kjda.formats.pdfa_check import pdfa_check
from kjda.storage.errors import StorageError
from kjda.storage.services import blob_read_verified

ARCHIVAL_FORMATS = {"pdf", "pdfa", "ofd", "xml", "jpeg", "tiff", "png", "txt"}
REQUIRED = {"archive_no": "档号", "title": "题名", "responsible": "责任者", "date": "日期",
            "fiscal_year": "会计年度", "retention": "保管期限", "class_code": "类别号"}


@dataclass(frozen=True)
class YJResult:
    code: str
    name: str
    property: str  # 真实性 / 完整性 / 可用性 / 安全性
    passed: bool
    message: str = ""


@dataclass
class _File:
    row: RecordFile
    data: bytes | None  # None: the bytes could not be read or did not match their digests
    problem: str = ""


def _read(f: RecordFile) -> _File:
    try:
        data = b"".join(blob_read_verified(sha256=f.sha256, sm3=f.sm3, size=None))
    except StorageError as exc:
        found = getattr(exc, "found", {}) or {}
        what = "、".join(sorted(found)) or exc.code
        return _File(f, None, f"{f.filename}：存储内容与登记摘要不符或缺失（{what}）")
    return _File(f, data)


def yj_check(record: Record) -> list[YJResult]:
    """Every YJ check on `record`, in code order."""
    files = [_read(f) for f in record.files.select_related(None).order_by("sequence")]
    out: list[YJResult] = []

    def add(code: str, name: str, prop: str, fn: Callable[[], str]) -> None:
        problem = fn()
        out.append(YJResult(code, name, prop, not problem, problem or "通过"))

    def fixity() -> str:
        return "；".join(f.problem for f in files if f.problem)

    def properties() -> str:
        bad = [f"{f.row.filename}：登记 {f.row.size} 字节，实际 {len(f.data)} 字节"
               for f in files if f.data is not None and len(f.data) != f.row.size]
        return "；".join(bad)

    def metadata_accurate() -> str:
        if record.status != "filed":
            return f"档案状态为“{record.get_status_display()}”，不是已归档"
        return ""

    def count() -> str:
        readable = sum(f.data is not None for f in files)
        if not files:
            return "没有电子文件"
        return "" if readable == len(files) else f"登记 {len(files)} 个文件，可读取 {readable} 个"

    def total_bytes() -> str:
        declared = sum(f.row.size for f in files)
        actual = sum(len(f.data) for f in files if f.data is not None)
        return "" if declared == actual else f"登记 {declared} 字节，实际 {actual} 字节"

    def required() -> str:
        missing = [label for field, label in REQUIRED.items() if getattr(record, field) in
                   (None, "")]
        return "缺少必填元数据：" + "、".join(missing) if missing else ""

    def readable() -> str:
        bad = []
        for f in files:
            if f.data is None:
                continue
            info = identify(io.BytesIO(f.data))
            handler = handler_for(info.name)
            probe = handler.probe(io.BytesIO(f.data)) if handler else None
            if probe is None or not probe.readable or probe.encrypted:
                bad.append(f"{f.row.filename}：无法正常打开（{info.name}）")
            elif f.row.format_name and info.name not in (f.row.format_name, "pdf", "pdfa"):
                bad.append(f"{f.row.filename}：格式为 {info.name}，登记为 {f.row.format_name}")
        return "；".join(bad)

    def archival_format() -> str:
        originals = [f for f in files if f.row.role == "original"]
        bad = [f.row.filename for f in originals if f.row.format_name
               and f.row.format_name not in ARCHIVAL_FORMATS]
        pdfa_bad = [f.row.filename for f in originals if f.row.format_name in ("pdf", "pdfa")
                    and f.row.pdfa and f.row.pdfa.get("claimed") and not f.row.pdfa.get(
                        "compliant")]
        # A PDF filed as conforming to PDF/A is checked again: still conforming?
        for f in originals:
            if (f.data is not None and f.row.pdfa and f.row.pdfa.get("compliant")
                    and not pdfa_check(f.data).compliant):
                pdfa_bad.append(f.row.filename)
        msgs = []
        if bad:
            msgs.append("非归档格式：" + "、".join(bad))
        if pdfa_bad:
            msgs.append("声明 PDF/A 但不符合：" + "、".join(pdfa_bad))
        return "；".join(msgs)

    def active_content() -> str:
        bad = []
        for f in files:
            if f.data is None or not f.data.startswith(b"%PDF"):
                continue
            try:
                with pikepdf.open(io.BytesIO(f.data)) as pdf:
                    found = risky(pdf_active_content(pdf))
            except pikepdf.PdfError:
                continue  # unreadable PDFs are YJ-3-2's finding
            if found:
                bad.append(f"{f.row.filename}：" + "、".join(str(x.get("kind", "")) for x in found))
        return "；".join(bad)

    add("YJ-1-1", "固化信息有效性检测（摘要复核）", "真实性", fixity)
    add("YJ-1-5", "元数据项数据值合理性检测（归档状态）", "真实性", metadata_accurate)
    add("YJ-1-9", "内容数据的电子属性一致性检测", "真实性", properties)
    add("YJ-2-1", "总件数相符性检测", "完整性", count)
    add("YJ-2-2", "总字节数相符性检测", "完整性", total_bytes)
    add("YJ-2-3", "元数据完整性检测", "完整性", required)
    add("YJ-3-2", "内容数据可读性检测", "可用性", readable)
    add("YJ-3-3", "内容数据格式检测", "可用性", archival_format)
    add("YJ-4-2", "恶意代码与活动内容检测", "安全性", active_content)
    return out


def as_json(results: list[YJResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]

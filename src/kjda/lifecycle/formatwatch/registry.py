"""The format registry's defaults and what our converters can do (data, not code paths, as in
Archivematica's format policy registry; the risk idea is RODA's).

A format is named by its PRONOM id where PRONOM has one (the id `kjda.formats` gives a file),
else by a local id `kjda/<name>` (OFD has no PRONOM entry). The converters are the ingest
rendition converters (`kjda.ingest.longterm`): every one of them makes PDF/A-2b, so that is the
only migration target we offer. Nothing here claims a converter we do not have: legacy office
formats (DOC, XLS, PPT) are recorded as risky but cannot be migrated here (LibreOffice is not a
dependency), so they are not flagged by default.
"""

from __future__ import annotations

from typing import NamedTuple

PREFERRED, ACCEPTABLE, RISK = "preferred", "acceptable", "risk"

# Migration targets we can produce: PRONOM id → (name, our format name).
TARGETS = {"fmt/477": "PDF/A-2b"}
DEFAULT_TARGET = "fmt/477"

# Our format names (kjda.formats) whose files a converter in kjda.ingest.longterm takes.
CONVERTIBLE = frozenset({"jpeg", "png", "tiff", "ofd", "pdf"})


def format_id_of(*, puid: str, format_name: str) -> str:
    """The registry id of a file: its PRONOM id, else `kjda/<our format name>`."""
    return puid or f"kjda/{format_name or 'unknown'}"


class Default(NamedTuple):
    format_id: str
    name: str
    format_name: str  # kjda.formats' name, which picks the converter
    mime: str
    version: str
    category: str
    note: str = ""


_PDF = "application/pdf"
_JPEG, _PNG, _TIFF = "image/jpeg", "image/png", "image/tiff"
_NO_TOOL = "无可用转换工具（未安装 LibreOffice） / no converter here (LibreOffice is not installed)"

DEFAULTS: tuple[Default, ...] = (
    # 长期保存格式: DA/T 94 §6.4 (OFD first, PDF/A), XML for structured data.
    Default("kjda/ofd", "OFD 版式文档 (GB/T 33190)", "ofd", "application/ofd", "1.0", PREFERRED),
    Default("fmt/95", "PDF/A-1a", "pdfa", _PDF, "1A", PREFERRED),
    Default("fmt/354", "PDF/A-1b", "pdfa", _PDF, "1B", PREFERRED),
    Default("fmt/476", "PDF/A-2a", "pdfa", _PDF, "2A", PREFERRED),
    Default("fmt/477", "PDF/A-2b", "pdfa", _PDF, "2B", PREFERRED),
    Default("fmt/478", "PDF/A-2u", "pdfa", _PDF, "2U", PREFERRED),
    Default("fmt/479", "PDF/A-3a", "pdfa", _PDF, "3A", PREFERRED),
    Default("fmt/480", "PDF/A-3b", "pdfa", _PDF, "3B", PREFERRED),
    Default("fmt/481", "PDF/A-3u", "pdfa", _PDF, "3U", PREFERRED),
    Default("fmt/101", "XML 1.0", "xml", "application/xml", "1.0", PREFERRED),
    Default("kjda/xml", "XML（无 XML 声明）", "xml", "application/xml", "", PREFERRED),
    # 可接受: readable today, a PDF/A-2b rendition can be made when flagged.
    *(Default(puid, f"PDF {v}", "pdf", _PDF, v, ACCEPTABLE) for puid, v in (
        ("fmt/14", "1.0"), ("fmt/15", "1.1"), ("fmt/16", "1.2"), ("fmt/17", "1.3"),
        ("fmt/18", "1.4"), ("fmt/19", "1.5"), ("fmt/20", "1.6"), ("fmt/276", "1.7"),
        ("fmt/1129", "2.0"))),
    Default("kjda/pdf", "PDF（版本未知）", "pdf", _PDF, "", ACCEPTABLE),
    Default("fmt/41", "JPEG (raw stream)", "jpeg", _JPEG, "", ACCEPTABLE),
    Default("fmt/42", "JPEG JFIF 1.00", "jpeg", _JPEG, "1.00", ACCEPTABLE),
    Default("fmt/43", "JPEG JFIF 1.01", "jpeg", _JPEG, "1.01", ACCEPTABLE),
    Default("fmt/44", "JPEG JFIF 1.02", "jpeg", _JPEG, "1.02", ACCEPTABLE),
    Default("x-fmt/398", "Exif JPEG 2.0", "jpeg", _JPEG, "2.0", ACCEPTABLE),
    Default("x-fmt/390", "Exif JPEG 2.1", "jpeg", _JPEG, "2.1", ACCEPTABLE),
    Default("x-fmt/391", "Exif JPEG 2.2", "jpeg", _JPEG, "2.2", ACCEPTABLE),
    Default("fmt/645", "Exif JPEG 2.21", "jpeg", _JPEG, "2.21", ACCEPTABLE),
    Default("fmt/1507", "Exif JPEG 2.3", "jpeg", _JPEG, "2.3", ACCEPTABLE),
    Default("fmt/11", "PNG 1.0", "png", _PNG, "1.0", ACCEPTABLE),
    Default("fmt/12", "PNG 1.1", "png", _PNG, "1.1", ACCEPTABLE),
    Default("fmt/13", "PNG 1.2", "png", _PNG, "1.2", ACCEPTABLE),
    Default("fmt/353", "TIFF", "tiff", _TIFF, "", ACCEPTABLE),
    Default("fmt/817", "JSON", "json", "application/json", "", ACCEPTABLE),
    Default("x-fmt/111", "纯文本 / plain text", "txt", "text/plain", "", ACCEPTABLE),
    Default("x-fmt/18", "CSV", "csv", "text/csv", "", ACCEPTABLE),
    Default("fmt/412", "Word (DOCX)", "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "",
            ACCEPTABLE),
    Default("fmt/214", "Excel (XLSX)", "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "", ACCEPTABLE),
    Default("x-fmt/263", "ZIP", "zip", "application/zip", "", ACCEPTABLE),
    # 风险格式: legacy binary office formats; recorded, not flagged (no converter here).
    Default("fmt/40", "Word 97-2003 (DOC)", "doc", "application/msword", "", RISK, _NO_TOOL),
    Default("fmt/61", "Excel 97-2003 (XLS)", "xls", "application/vnd.ms-excel", "", RISK,
            _NO_TOOL),
    Default("fmt/126", "PowerPoint 97-2003 (PPT)", "ppt", "application/vnd.ms-powerpoint", "",
            RISK, _NO_TOOL),
    Default("kjda/ole2", "OLE2 复合文档（类型未知）", "ole2", "application/x-ole-storage", "", RISK,
            _NO_TOOL),
    Default("kjda/unknown", "无法识别的格式 / unidentified", "unknown",
            "application/octet-stream", "", RISK, _NO_TOOL),
)

"""A record's metadata as XML with the element names of DA/T 94-2022 Appendix A (M1–M95).

The nesting follows Appendix A: containers 来源 (M2), 档号 (M8), 内容描述 (M21), 形式特征 (M47),
电子属性 (M53, one per computer file), 电子签名 (M64), 存储位置 (M72), 权限管理 (M77); then
the agent (表A.2), business (表A.3) and relation (表A.4) entities.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET  # noqa: S405 - we only build XML here, never parse it
from collections.abc import Iterable, Iterator
from typing import IO

from kjda.archives.models import Record
from kjda.export_cells import cell_value

NS = "urn:kjda:dat94-2022"


def _text(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _add(parent: ET.Element, tag: str, value=None, *, number: str = "") -> ET.Element:
    el = ET.SubElement(parent, tag)
    if number:
        el.set("M", number)
    if value is not None:
        el.text = _text(value)
    return el


def _leaves(parent: ET.Element, rows: list[tuple[str, str, object]]) -> None:
    for tag, number, value in rows:
        if value not in (None, ""):
            _add(parent, tag, value, number=number)


def record_metadata_xml(record: Record, *, relations: list[dict] | None = None) -> bytes:
    """DA/T 94 metadata; `relations` as the reader may see them (archives.selectors.
    record_relations_for), else the stored ones."""
    root = ET.Element("电子会计档案元数据", {"xmlns": NS, "标准": "DA/T 94-2022 附录A"})
    entity = _add(root, "文件实体")
    _add(entity, "聚合层次", "件", number="M1")
    source = _add(entity, "来源", number="M2")
    fonds = record.fonds
    _leaves(source, [("档案馆名称", "M3", fonds.archives_name), ("档案馆代码", "M4", fonds.archives_code),
                     ("全宗名称", "M5", fonds.name), ("立档单位名称", "M6", fonds.unit_name)])
    _add(entity, "电子文件号", record.record_no, number="M7")
    code = _add(entity, "档号", number="M8")
    code.set("值", record.archive_no or "")
    _leaves(code, [
        ("全宗号", "M9", fonds.code), ("目录号", "M10", record.catalogue_no),
        ("年度", "M11", record.fiscal_year), ("保管期限", "M12", record.retention),
        ("机构或问题", "M13", record.org_unit), ("类别号", "M14", record.class_code),
        ("室编案卷号", "M15", f"{record.volume_no:04d}" if record.volume_no else None),
        ("室编件号", "M17", f"{record.item_no:04d}" if record.item_no else None),
        ("页号", "M20", record.page_no),
    ])
    content = _add(entity, "内容描述", number="M21")
    _leaves(content, [
        ("题名", "M22", record.title), ("并列题名", "M23", record.parallel_title),
        ("副题名", "M24", record.subtitle), ("说明题名文字", "M25", record.title_note),
        ("主题词", "M26", record.descriptors), ("关键词", "M27", record.keywords),
        ("人名", "M28", record.person_names), ("摘要", "M29", record.abstract),
        ("分类号", "M30", record.classification_no), ("文件编号", "M31", record.document_no),
        ("责任者", "M32", record.responsible), ("日期", "M33", record.date),
        ("文种", "M34", record.genre), ("紧急程度", "M35", record.urgency),
        ("主送", "M36", record.main_recipient), ("抄送", "M37", record.copy_recipient),
        ("密级", "M38", record.security_level), ("保密期限", "M39", record.secrecy_period),
        ("会计年度", "M40", record.fiscal_year),
        ("会计月份", "M41", f"{record.period:02d}" if record.period else None),
        ("本位币", "M42", record.base_currency), ("编制人", "M43", record.preparer),
        ("编制日期", "M44", record.prepared_on), ("审核人", "M45", record.reviewer),
        ("审核日期", "M46", record.reviewed_on),
    ])
    if record.amount is not None:
        amount = _add(content, "金额", f"{record.amount:.2f}")
        amount.set("币种", record.currency)
    # a file replaced while the record was pending is kept, but is not part of the item
    files = [f for f in record.files.all() if f.superseded_at is None]
    form = _add(entity, "形式特征", number="M47")
    _leaves(form, [("文件组合类型", "M48", "组合文件" if len(files) > 1 else "单件"),
                   ("件数", "M49", None), ("页数", "M50", record.page_count),
                   ("语种", "M51", record.language), ("稿本", "M52", record.manuscript)])
    for f in files:
        prop = _add(entity, "电子属性", number="M53")
        prop.set("文档序号", str(f.sequence))
        prop.set("角色", f.role)
        fmt = " ".join(x for x in (f.format_name.upper(), f.format_version, f.mime, f.puid) if x)
        _leaves(prop, [("格式信息", "M54", fmt), ("计算机文件名", "M55", f.filename),
                       ("计算机文件大小", "M56", f.size),
                       ("文档创建程序", "M57", f.creating_application),
                       ("信息系统描述", "M58", record.system_description)])
        digest = _add(prop, "固化信息")
        _add(digest, "SHA256", f.sha256)
        _add(digest, "SM3", f.sm3)
        for sig in f.signatures:
            s = _add(entity, "电子签名", number="M64")
            _leaves(s, [("签名规则", "M65", sig.get("rule")), ("签名时间", "M66", sig.get("time")),
                        ("签名人", "M67", sig.get("signer")), ("签名结果", "M68", sig.get("value")),
                        ("证书", "M69", sig.get("certificate")),
                        ("签名算法标识", "M71", sig.get("algorithm"))])
    if record.digitized_form or record.scan_resolution:
        dig = _add(entity, "数字化属性", number="M59")
        _leaves(dig, [("数字化对象形态", "M60", record.digitized_form),
                      ("扫描分辨率", "M61", record.scan_resolution),
                      ("扫描色彩模式", "M62", record.scan_color_mode),
                      ("图像压缩方案", "M63", record.image_compression)])
    loc = _add(entity, "存储位置", number="M72")
    _leaves(loc, [("当前位置", "M73", f"kjda://records/{record.record_no}"),
                  ("脱机载体编号", "M74", record.offline_carrier_no),
                  ("脱机载体存址", "M75", record.offline_carrier_location),
                  ("缩微号", "M76", record.microform_no)])
    rights = _add(entity, "权限管理", number="M77")
    _leaves(rights, [("知识产权说明", "M78", record.ip_statement),
                     ("授权对象", "M79", record.authorized_agent),
                     ("授权行为", "M80", record.authorized_action),
                     ("控制标识", "M81", record.control_flag)])
    if record.notes:
        _add(entity, "附注", record.notes, number="M82")
    for a in record.agents.all():
        ag = _add(root, "机构人员实体")
        _leaves(ag, [("机构人员类型", "M83", a.agent_type), ("机构人员名称", "M84", a.name),
                     ("组织机构代码", "M85", a.org_code), ("个人职位", "M86", a.position)])
        if a.role:
            ag.set("职责", a.role)
    for e in record.business_events.all():
        be = _add(root, "业务实体")
        _leaves(be, [("业务状态", "M87", e.status), ("业务行为", "M88", e.action),
                     ("行为时间", "M89", e.occurred_at), ("行为依据", "M90", e.mandate),
                     ("行为描述", "M91", e.description)])
    if relations is None:
        relations = [{"entity_identifier": r.entity_identifier, "relation_type": r.relation_type,
                      "relation": r.relation, "description": r.description}
                     for r in record.relations.all()]
    for r in relations:
        rel = _add(root, "实体关系")
        _leaves(rel, [("实体标识符", "M92", r["entity_identifier"]),
                      ("关系类型", "M93", r["relation_type"]), ("关系", "M94", r["relation"]),
                      ("关系描述", "M95", r["description"])])
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# The catalogue (归档文件目录 / 电子会计档案登记表, DA/T 94-2022 Table F.1) as CSV or Excel.
CATALOGUE_COLUMNS = ["序号", "档号", "文件号", "题名", "形成日期", "保管期限", "电子文件名", "数量",
                     "金额", "币种", "备注"]


def catalogue_rows(records: Iterable[Record]) -> Iterator[list]:
    """One row per record, typed (numbers stay numbers: a negative amount is a number, not
    text) and not yet neutralised: each writer passes every cell through `cell_value`.
    `records` should prefetch `files`."""
    for n, r in enumerate(records, start=1):
        files = [f for f in r.files.all() if f.superseded_at is None]  # not replaced ones
        yield [n, r.archive_no or "", r.document_no, r.title, r.date, r.get_retention_display(),
               "; ".join(f.filename for f in files), len(files), r.amount, r.currency, r.notes]


def catalogue_csv(records: Iterable[Record]) -> Iterator[str]:
    """The catalogue as CSV text chunks (UTF-8 BOM first, so Excel opens it as UTF-8)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write("\ufeff")
    writer.writerow(CATALOGUE_COLUMNS)
    for row in catalogue_rows(records):
        writer.writerow([cell_value(v) for v in row])
        if buf.tell() > 64 * 1024:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def catalogue_xlsx(records: Iterable[Record], dest: IO[bytes]) -> None:
    """The catalogue as an Excel workbook written to `dest` (openpyxl's streaming writer)."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("目录")
    ws.append(CATALOGUE_COLUMNS)
    for row in catalogue_rows(records):
        # XML 1.0 cannot carry most control characters (openpyxl refuses them): drop them
        # before neutralising, so that no formula hides behind a dropped character.
        ws.append([cell_value(ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v)
                   for v in row])
    wb.save(dest)

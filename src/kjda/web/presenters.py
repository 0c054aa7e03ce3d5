"""Shape archive data for the templates: DA/T 94 metadata groups, the dashboard chart, the audit
trail of a record. No queries of their own beyond the selectors they are handed."""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kjda.archives.models import Record
from kjda.audit.selectors import audit_event_list

_EMPTY = "—"


def _fmt(value) -> str:
    if value in (None, ""):
        return _EMPTY
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _num4(value: int | None) -> str | None:
    return f"{value:04d}" if value else None


# (group title, container element, [(element number, label, getter)]) in the order of DA/T 94
# Appendix A, as the XML export nests them (kjda.archives.export).
_GROUPS = [
    (_("来源"), "M2", [
        ("M3", _("档案馆名称"), lambda r: r.fonds.archives_name),
        ("M4", _("档案馆代码"), lambda r: r.fonds.archives_code),
        ("M5", _("全宗名称"), lambda r: r.fonds.name),
        ("M6", _("立档单位名称"), lambda r: r.fonds.unit_name),
        ("M7", _("电子文件号"), lambda r: r.record_no),
    ]),
    (_("档号"), "M8", [
        ("M9", _("全宗号"), lambda r: r.fonds.code),
        ("M10", _("目录号"), lambda r: r.catalogue_no),
        ("M11", _("年度"), lambda r: r.fiscal_year),
        ("M12", _("保管期限"), lambda r: r.retention),
        ("M13", _("机构或问题"), lambda r: r.org_unit),
        ("M14", _("类别号"), lambda r: r.class_code),
        ("M15", _("室编案卷号"), lambda r: _num4(r.volume_no)),
        ("M17", _("室编件号"), lambda r: _num4(r.item_no)),
        ("M20", _("页号"), lambda r: r.page_no),
    ]),
    (_("内容描述"), "M21", [
        ("M22", _("题名"), lambda r: r.title),
        ("M23", _("并列题名"), lambda r: r.parallel_title),
        ("M24", _("副题名"), lambda r: r.subtitle),
        ("M25", _("说明题名文字"), lambda r: r.title_note),
        ("M26", _("主题词"), lambda r: r.descriptors),
        ("M27", _("关键词"), lambda r: r.keywords),
        ("M28", _("人名"), lambda r: r.person_names),
        ("M29", _("摘要"), lambda r: r.abstract),
        ("M30", _("分类号"), lambda r: r.classification_no),
        ("M31", _("文件编号"), lambda r: r.document_no),
        ("M32", _("责任者"), lambda r: r.responsible),
        ("M33", _("日期"), lambda r: r.date),
        ("M34", _("文种"), lambda r: r.genre),
        ("M35", _("紧急程度"), lambda r: r.urgency),
        ("M36", _("主送"), lambda r: r.main_recipient),
        ("M37", _("抄送"), lambda r: r.copy_recipient),
        ("M38", _("密级"), lambda r: r.security_level),
        ("M39", _("保密期限"), lambda r: r.secrecy_period),
        ("M40", _("会计年度"), lambda r: r.fiscal_year),
        ("M41", _("会计月份"), lambda r: f"{r.period:02d}" if r.period else None),
        ("M42", _("本位币"), lambda r: r.base_currency),
        ("M43", _("编制人"), lambda r: r.preparer),
        ("M44", _("编制日期"), lambda r: r.prepared_on),
        ("M45", _("审核人"), lambda r: r.reviewer),
        ("M46", _("审核日期"), lambda r: r.reviewed_on),
    ]),
    (_("形式特征"), "M47", [
        ("M48", _("文件组合类型"),
         lambda r: _("组合文件") if len(r.files.all()) > 1 else _("单件")),
        ("M50", _("页数"), lambda r: r.page_count),
        ("M51", _("语种"), lambda r: r.language),
        ("M52", _("稿本"), lambda r: r.manuscript),
        ("M58", _("信息系统描述"), lambda r: r.system_description),
    ]),
    (_("数字化属性"), "M59", [
        ("M60", _("数字化对象形态"), lambda r: r.digitized_form),
        ("M61", _("扫描分辨率"), lambda r: r.scan_resolution),
        ("M62", _("扫描色彩模式"), lambda r: r.scan_color_mode),
        ("M63", _("图像压缩方案"), lambda r: r.image_compression),
    ]),
    (_("存储位置"), "M72", [
        ("M73", _("当前位置"), lambda r: f"kjda://records/{r.record_no}"),
        ("M74", _("脱机载体编号"), lambda r: r.offline_carrier_no),
        ("M75", _("脱机载体存址"), lambda r: r.offline_carrier_location),
        ("M76", _("缩微号"), lambda r: r.microform_no),
    ]),
    (_("权限管理"), "M77", [
        ("M78", _("知识产权说明"), lambda r: r.ip_statement),
        ("M79", _("授权对象"), lambda r: r.authorized_agent),
        ("M80", _("授权行为"), lambda r: r.authorized_action),
        ("M81", _("控制标识"), lambda r: r.control_flag),
        ("M82", _("附注"), lambda r: r.notes),
    ]),
    (_("会计业务信息"), "", [
        ("", _("凭证类型"), lambda r: r.voucher_type),
        ("", _("金额"), lambda r: f"{r.amount:,.2f} {r.currency}" if r.amount is not None
         else None),
        ("", _("部门"), lambda r: r.department),
        ("", _("申请人"), lambda r: r.applicant),
        ("", _("保管期满日"), lambda r: r.retention_expires_on),
        ("", _("资产报废清理日期"), lambda r: r.asset_disposed_on),
        ("", _("案卷"), lambda r: r.volume.archive_no or r.volume.title if r.volume else None),
        ("", _("来源系统"), lambda r: r.source_system),
        ("", _("外部编号"), lambda r: r.external_id),
        ("", _("归档人"), lambda r: r.created_by.get_username() if r.created_by else None),
        ("", _("归档时间"), lambda r: r.filed_at),
    ]),
]


def metadata_groups(record: Record) -> list[dict]:
    return [
        {"title": title, "code": code,
         "rows": [{"code": num, "label": label, "value": _fmt(get(record))}
                  for num, label, get in rows]}
        for title, code, rows in _GROUPS
    ]


def record_audit_trail(*, actor: AbstractBaseUser | AnonymousUser, record: Record, limit: int = 100) -> list:
    """Audit events on the record itself and on each of its files, newest first, in one query."""
    querysets = [audit_event_list(actor_user=actor, object_type="record", object_id=record.pk)]
    querysets += [audit_event_list(actor_user=actor, object_type="file", object_id=f.pk)
                  for f in record.files.all()]
    combined = functools.reduce(operator.or_, querysets)
    return list(combined.order_by("-seq")[:limit])


# --- dashboard chart ------------------------------------------------------------------------

CATEGORY_COLOURS = ["#2f5d8a", "#4f9d8f", "#d39b36", "#9a6aa8", "#8a8f98"]


@dataclass
class Chart:
    width: int
    height: int
    bars: list[dict]
    ticks: list[dict]
    legend: list[dict]
    baseline: float


def _nice_step(top: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500):
        if top / step <= 5:
            return step
    magnitude = 10 ** (len(str(top)) - 1)
    return magnitude


def year_category_chart(rows: list[Mapping[str, Any]], categories: list[str], *, years: int = 8,
                        width: int = 640, height: int = 240) -> Chart | None:
    """A stacked bar per fiscal year (the latest `years`), one segment per category."""
    if not rows:
        return None
    counts: dict[int, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["fiscal_year"], {})[row["category__name"]] = row["count"]
    shown = sorted(counts)[-years:]
    colours = {c: CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)] for i, c in enumerate(categories)}
    left, right, top, bottom = 44, 10, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(sum(counts[y].values()) for y in shown)
    step = _nice_step(peak)
    axis_max = step * -(-peak // step)
    slot = plot_w / len(shown)
    bar_w = min(56.0, slot * 0.6)
    bars = []
    for i, year in enumerate(shown):
        x = left + slot * i + (slot - bar_w) / 2
        y: float = top + plot_h
        segments = []
        for cat in categories:
            n = counts[year].get(cat, 0)
            if not n:
                continue
            h = plot_h * n / axis_max
            y -= h
            segments.append({"y": round(y, 1), "h": round(h, 1), "colour": colours[cat],
                             "category": cat, "count": n})
        bars.append({"x": round(x, 1), "w": round(bar_w, 1), "cx": round(x + bar_w / 2, 1),
                     "year": year, "total": sum(counts[year].values()),
                     "top": round(y - 4, 1), "segments": segments})
    ticks = [{"value": v, "y": round(top + plot_h - plot_h * v / axis_max, 1)}
             for v in range(0, axis_max + 1, step)]
    legend = [{"name": c, "colour": colours[c]} for c in categories]
    return Chart(width, height, bars, ticks, legend, baseline=top + plot_h)


def year_category_table(rows: list[Mapping[str, Any]], categories: list[str]) -> dict:
    """The same counts as a year × category matrix with totals (newest year first)."""
    years = sorted({r["fiscal_year"] for r in rows}, reverse=True)
    cell = {(r["fiscal_year"], r["category__name"]): r["count"] for r in rows}
    table = [{"year": y, "cells": [cell.get((y, c), 0) for c in categories],
              "total": sum(cell.get((y, c), 0) for c in categories)} for y in years]
    totals = [sum(cell.get((y, c), 0) for y in years) for c in categories]
    return {"rows": table, "totals": totals, "grand_total": sum(totals)}


_INVOICE_ROWS = [("kind", "票种"), ("invoice_code", "发票代码"), ("invoice_number", "发票号码"),
                 ("issue_date", "开票日期"), ("total_excl_tax", "合计金额"), ("total_tax", "合计税额"),
                 ("total_incl_tax", "价税合计"), ("check_code", "校验码"),
                 ("seller_name", "销售方名称"), ("seller_tax_id", "销售方纳税人识别号"),
                 ("buyer_name", "购买方名称"), ("buyer_tax_id", "购买方纳税人识别号")]


_DETAIL_LABELS = {"ticket_number": "电子客票号码", "flights": "航班", "fare": "票价",
                  "fuel_surcharge": "燃油附加费", "civil_aviation_fund": "民航发展基金",
                  "vat_rate": "增值税税率", "train": "车次", "receipt_number": "回单编号",
                  "transaction_date": "交易日期", "amount": "金额", "payer_name": "付款人",
                  "payee_name": "收款人"}


def invoice_panels(invoices, claims: list[dict | None]) -> list[dict]:
    """What the record page shows of each invoice beside the preview: the fields with where
    each was read, conflicts between sources, and the first claim of a duplicate (`claims`,
    from invoices.selectors.invoice_duplicates_for: named only when in the reader's scope)."""
    panels = []
    for inv, claim in zip(invoices, claims, strict=True):
        data = inv.data or {}
        sources = data.get("sources") or {}
        rows = [{"label": label, "value": data.get(key) or "", "source": sources.get(key, "")}
                for key, label in _INVOICE_ROWS]
        panels.append({"file_id": inv.file_id, "rows": rows, "items": data.get("items") or [],
                       "details": {_DETAIL_LABELS.get(k, k): v
                                   for k, v in (data.get("details") or {}).items()},
                       "conflicts": data.get("conflicts") or [],
                       "duplicate_of": claim})
    return panels

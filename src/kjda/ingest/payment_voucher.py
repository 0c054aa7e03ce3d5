"""The payment voucher (付款凭证) generated for a payment scenario: A5 landscape PDF/A-2b with the
amount in capitals (人民币大写 per 《支付结算办法》) and the signatories taken from the approvals.
Built with the layout of `kjda.ingest.renditions`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from reportlab.lib import colors
from reportlab.lib.pagesizes import A5, landscape
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, HRFlowable, Spacer
from reportlab.platypus.tables import Table, TableStyle

from kjda.formats.fonts import cjk_font
from kjda.ingest.approval_record import result_zh
from kjda.ingest.renditions import LABEL_BG, display_tz, money_text, para, pdf_build, table_grid
from kjda.ingest.types import TrailEntry

_START = {"发起", "提交", "start", "start_process_instance"}
_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_CURRENCY = {"CNY": "人民币", "RMB": "人民币", "USD": "美元", "EUR": "欧元", "HKD": "港币",
             "JPY": "日元", "GBP": "英镑"}


def _section(n: int) -> str:
    out, zero = "", False
    for unit_value, unit in ((1000, "仟"), (100, "佰"), (10, "拾"), (1, "")):
        digit = n // unit_value % 10
        if digit == 0:
            zero = zero or bool(out)
        else:
            out += ("零" if zero else "") + _DIGITS[digit] + unit
            zero = False
    return out


def amount_in_chinese(amount: Decimal) -> str:
    """人民币大写 per 《支付结算办法》: 1280.50 → 壹仟贰佰捌拾元伍角整, 100000.07 → 壹拾万元零柒分."""
    value = Decimal(amount).quantize(Decimal("0.01"), ROUND_HALF_UP)
    sign, value = ("负", -value) if value < 0 else ("", value)
    fen_total = int(value * 100)
    yuan, jiao, fen = fen_total // 100, fen_total // 10 % 10, fen_total % 10
    if yuan >= 10 ** 16:
        raise ValueError(f"amount too large for 大写: {amount}")
    sections = [(yuan // 10 ** (4 * i)) % 10000 for i in range(3, -1, -1)]
    words, gap = "", False
    for number, unit in zip(sections, ("万亿", "亿", "万", ""), strict=True):
        if number == 0:
            gap = gap or bool(words)
            continue
        if words and (gap or number < 1000):
            words += "零"
        words += _section(number) + unit
        gap = False
    if not words and not (jiao or fen):
        return "零元整"
    out = words + "元" if words else ""
    if jiao:
        out += _DIGITS[jiao] + "角"
    elif fen and words:
        out += "零"
    out += _DIGITS[fen] + "分" if fen else "整"
    return sign + out


def _signatories(approvals: Sequence[TrailEntry]) -> dict[str, str]:
    def started(t: TrailEntry) -> bool:
        return t.action.strip().lower() in _START or t.result.strip().lower() == "start"

    starters = [t for t in approvals if started(t)]
    agreed = [t for t in approvals if not started(t) and result_zh(t.result) == "同意"]
    names = list(dict.fromkeys(t.actor_name or t.actor_id for t in agreed[:-1]))
    first = starters[0] if starters else (approvals[0] if approvals else None)
    return {"经办": (first.actor_name or first.actor_id) if first else "",
            "审核": "、".join(names),
            "审批": (agreed[-1].actor_name or agreed[-1].actor_id) if agreed else ""}


def render_payment_voucher(*, voucher_no: str, date: date, payee: str, payee_account: str,
                           amount: Decimal, currency: str, summary: str, payer: str,
                           related: list[str], approvals: list[TrailEntry],
                           company: str) -> bytes:
    """A 付款凭证 (A5 landscape, PDF/A-2b) generated from the payment data and its approvals."""
    page = landscape(A5)
    width = page[0] - 24 * mm
    currency_zh = _CURRENCY.get(currency.upper(), currency)
    small = money_text(amount) or str(amount)
    symbol = "¥" if currency.upper() in ("CNY", "RMB") else f"{currency} "
    head = Table([[para(f"单位：{company}"), para(f"日期：{date:%Y年%m月%d日}"),
                   para(f"凭证号：{voucher_no}", "money")]],
                 colWidths=[width * 0.45, width * 0.27, width * 0.28])
    head.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), cjk_font(), 9.5),
                              ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    lw = 24 * mm
    body = [
        [para("摘要", "label"), para(summary), "", ""],
        [para("收款人", "label"), para(payee), para("收款账号", "label"), para(payee_account)],
        [para("付款单位", "label"), para(payer), para("币种", "label"),
         para(f"{currency_zh}（{currency.upper()}）")],
        [para("金额（大写）", "label"), para(f"{currency_zh}{amount_in_chinese(amount)}"), "", ""],
        [para("金额（小写）", "label"), para(f"{symbol}{small}", "money"), "", ""],
        [para("关联单据", "label"), para("\n".join(related) or "无"), "", ""],
    ]
    grid = table_grid(body, [lw, width / 2 - lw, lw, width / 2 - lw], extra=[
        ("BACKGROUND", (0, 0), (0, -1), LABEL_BG), ("BACKGROUND", (2, 1), (2, 2), LABEL_BG),
        *[("SPAN", (1, r), (3, r)) for r in (0, 3, 4, 5)]])
    who = _signatories(approvals)
    signs = Table([[para(f"{role}：{name}") for role, name in
                    [*who.items(), ("出纳", ""), ("制单", "KJDA")]]],
                  colWidths=[width / 5] * 5,
                  style=[("FONT", (0, 0), (-1, -1), cjk_font(), 9.5)])
    story: list[Flowable] = [
        para("付 款 凭 证", "title"),
        *[HRFlowable(width=42 * mm, thickness=t, color=colors.black, spaceAfter=1.2)
          for t in (0.9, 0.5)],
        para(f"附单据 {len(related)} 张", "subtitle"), head,
        Spacer(1, 2 * mm), grid, Spacer(1, 4 * mm), signs]
    return pdf_build(story, pagesize=page, margin=12 * mm, title=f"付款凭证 {voucher_no}",
                  author=company or payer or "KJDA", subject=summary,
                  keywords=f"付款凭证, {voucher_no}",
                  created=datetime.combine(date, time(0, 0), tzinfo=display_tz()),
                  footer=f"付款凭证 {voucher_no}")

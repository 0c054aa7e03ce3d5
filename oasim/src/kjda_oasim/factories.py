"""Real files for tests and the demo: PDFs with Chinese text, a small PNG. Nothing is
downloaded: fonts come from the machine (see `_register_font`)."""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from reportlab.lib.pagesizes import A4, A5, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

# Real e-invoices embed their fonts; do the same with a TrueType CJK font when the machine has
# one (Debian: fonts-wqy-microhei), else fall back to the non-embedded CID font STSong-Light.
_TTF_CANDIDATES = [Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
                   Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")]


def _register_font() -> str:
    for path in _TTF_CANDIDATES:
        if path.exists():
            pdfmetrics.registerFont(TTFont("KJDA-CJK", str(path), subfontIndex=0))
            return "KJDA-CJK"
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


_FONT = _register_font()


def pdf_bytes(lines: list[str], *, title: str = "", pad_to: int = 0, invoice: bool = False) -> bytes:
    """A PDF whose text layer holds `lines`; `pad_to` adds an uncompressed comment stream so the
    file reaches about that many bytes (benchmarks want ~100 KB vouchers)."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=landscape(A5) if invoice else A4, invariant=1)
    c.setTitle(title or (lines[0] if lines else ""))
    c.setFont(_FONT, 12)
    width, height = c._pagesize
    y = height - 50
    for line in lines:
        c.drawString(40, y, line)
        y -= 20
    if pad_to:
        # Reach the size with an incompressible image (like a scanned stamp), not junk bytes.
        import os

        from PIL import Image
        from reportlab.lib.utils import ImageReader

        side = max(8, int((pad_to / 3 / 1.25) ** 0.5))  # ASCII85 adds a quarter
        img = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        c.drawImage(ImageReader(img), 40, 40, width=120, height=120)
    c.showPage()
    c.save()
    return buf.getvalue()


def voucher_pdf(*, number: str, summary: str, amount: Decimal, day: date,
                pad_to: int = 0) -> bytes:
    return pdf_bytes([
        "记账凭证", f"凭证号：记-{number}", f"日期：{day.isoformat()}", f"摘要：{summary}",
        f"金额：{amount} 元", "制单：张会计  审核：李主管  记账：王出纳",
    ], title=f"记账凭证 记-{number}", pad_to=pad_to)


def invoice_pdf(*, number: str, seller: str, amount: Decimal, day: date) -> bytes:
    return pdf_bytes([
        "电子发票（普通发票）", f"发票号码：{number}", f"开票日期：{day.isoformat()}",
        f"销售方：{seller}", f"价税合计：{amount}",
    ], title=f"电子发票 {number}", invoice=True)


def png_bytes(width: int = 64, height: int = 32) -> bytes:
    from PIL import Image

    img = Image.new("RGB", (width, height), (250, 250, 250))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def metadata_json(**overrides) -> str:
    data = {
        "category": "记账凭证", "fiscal_year": 2024, "period": 3, "title": "报销差旅费",
        "date": "2024-03-15", "amount": "1280.50", "currency": "CNY", "department": "财务部",
        "applicant": "张三", "document_no": "记-0015", "voucher_type": "记",
        "preparer": "张会计", "reviewer": "李主管",
    }
    data.update(overrides)
    return json.dumps(data, ensure_ascii=False, default=str)


def user_with_roles(name: str, roles: list[str], *, password: str):
    """A local account with these roles; the three administrators get their second factor
    (they are refused everywhere without one)."""
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile

    user = get_user_model().objects.create_user(name, password=password)
    Profile.objects.create(user=user, roles=roles)
    if {"sysadmin", "secadmin", "auditadmin"} & set(roles):
        totp_activate(user)
    return user


def totp_activate(user) -> str:
    """Give `user` a TOTP authenticator (django-allauth's own); returns its secret."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def totp_code(secret: str) -> str:
    """The current 6-digit code for `secret`, as an authenticator app shows it.

    Close to the end of a period it waits for the next one, so the code is still current when
    the (slow, browser-driven) submission reaches the server."""
    import time

    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import (
        format_hotp_value,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    left = app_settings.TOTP_PERIOD - time.time() % app_settings.TOTP_PERIOD
    if left < 5:
        time.sleep(left + 0.1)
    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))

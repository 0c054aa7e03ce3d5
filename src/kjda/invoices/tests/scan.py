"""A picture of an invoice face, as a phone or scanner would deliver it, drawn from the values
of a real invoice (so OCR and the QR reader are tested on what a person would photograph)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = [Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
         Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")]


def _font(size: int) -> ImageFont.FreeTypeFont:
    for path in FONTS:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    raise FileNotFoundError("no CJK font (fonts-wqy-microhei or fonts-noto-cjk)")


def invoice_scan(inv: dict, *, qr: str = "", fmt: str = "PNG") -> bytes:
    """A 1600×1000 picture of a 数电票 face with the invoice's values (and a QR when given)."""
    img = Image.new("RGB", (1600, 1000), (252, 251, 247))
    d = ImageDraw.Draw(img)
    big, f = _font(44), _font(26)
    d.text((520, 40), inv["kind"], font=big, fill=(140, 40, 30))
    d.text((1120, 130), f"发票号码：{inv['invoice_number']}", font=f, fill=(0, 0, 0))
    y, m, day = inv["issue_date"].split("-")
    d.text((1120, 180), f"开票日期：{y}年{m}月{day}日", font=f, fill=(0, 0, 0))
    for x, party, label in ((40, "buyer", "购买方信息"), (820, "seller", "销售方信息")):
        d.rectangle((x, 250, x + 740, 420), outline=(140, 40, 30), width=2)
        for i, ch in enumerate(label):
            d.text((x + 10, 262 + i * 30), ch, font=f, fill=(140, 40, 30))
        d.text((x + 60, 280), f"名称：{inv[f'{party}_name']}", font=f, fill=(0, 0, 0))
        d.text((x + 60, 350), f"统一社会信用代码/纳税人识别号：{inv[f'{party}_tax_id']}", font=_font(22),
               fill=(0, 0, 0))
    d.text((60, 470), "项目名称      规格型号   单位   数量   单价   金额   税率/征收率   税额", font=f,
           fill=(60, 60, 60))
    d.text((60, 700), "合  计", font=f, fill=(0, 0, 0))
    d.text((900, 700), f"¥{inv['total_excl_tax']}", font=f, fill=(0, 0, 0))
    d.text((1300, 700), f"¥{inv['total_tax']}", font=f, fill=(0, 0, 0))
    d.text((60, 770), "价税合计（大写）", font=f, fill=(0, 0, 0))
    d.text((1000, 770), f"（小写）¥{inv['total_incl_tax']}", font=f, fill=(0, 0, 0))
    if qr:
        import zxingcpp

        code = zxingcpp.create_barcode(qr, zxingcpp.BarcodeFormat.QRCode)
        picture = code.to_image(scale=5)
        img.paste(Image.fromarray(picture).convert("RGB") if not isinstance(picture, Image.Image)
                  else picture.convert("RGB"), (60, 40))
    img = img.rotate(0.6, expand=False, fillcolor=(252, 251, 247)).filter(ImageFilter.GaussianBlur(0.6))
    out = io.BytesIO()
    img.save(out, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return out.getvalue()

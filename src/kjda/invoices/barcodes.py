"""The invoice QR code (§9.4) read from images and rendered pages with zxing-cpp."""

from __future__ import annotations

import io
import logging

from PIL import Image

from kjda.invoices import codes

log = logging.getLogger(__name__)
MAX_PIXELS = 40_000_000


def qr_payloads(image: Image.Image) -> list[str]:
    import zxingcpp

    if image.width * image.height > MAX_PIXELS:
        image = image.copy()
        image.thumbnail((6000, 6000))
    try:
        found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    except Exception:  # noqa: BLE001 - a picture zxing can't take has no QR for us
        log.warning("QR scan failed", exc_info=True)
        return []
    return [b.text for b in found if b.text]


def qr_from_image(image: Image.Image) -> codes.QrData | None:
    """The first invoice QR on the picture, or None (other barcodes and URLs are ignored)."""
    for payload in qr_payloads(image):
        if qr := codes.qr_parse(payload):
            return qr
    return None


def qr_from_image_bytes(data: bytes) -> codes.QrData | None:
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return qr_from_image(img.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None

"""Offline Chinese OCR of scans and photos with rapidocr-onnxruntime (the `[ocr]` extra; its
wheel ships the PP-OCR detection, classification and recognition models, nothing is fetched).

The engine loads once per process (~1 s) and is not re-entrant: calls are serialised."""

from __future__ import annotations

import threading
from typing import Any

from PIL import Image

from kjda.invoices.layout import Glyph, glyphs_from_boxes

_LOCK = threading.Lock()
_ENGINE: Any = None
# Invoice faces have small print: let the detector see up to 2000 px instead of its 736.
DET_LIMIT_SIDE = 2000


def ocr_available() -> bool:
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _engine() -> Any:
    global _ENGINE
    if _ENGINE is None:
        from rapidocr_onnxruntime import RapidOCR

        _ENGINE = RapidOCR(det_limit_side_len=DET_LIMIT_SIDE, det_limit_type="max")
    return _ENGINE


def ocr_glyphs(image: Image.Image) -> list[Glyph]:
    """Recognised text as positioned glyphs (y down, pixels); [] without the OCR extra."""
    if not ocr_available():
        return []
    import numpy as np

    with _LOCK:
        result, _elapsed = _engine()(np.asarray(image.convert("RGB")))
    boxes = []
    for box, text, _score in result or []:
        xs, ys = [p[0] for p in box], [p[1] for p in box]
        boxes.append((text, float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))))
    return glyphs_from_boxes(boxes)

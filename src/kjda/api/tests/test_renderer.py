"""The API's orjson renderer writes the JSON ninja's json.dumps renderer wrote."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal

from django.utils.translation import gettext_lazy
from ninja.renderers import JSONRenderer as NinjaRenderer

from kjda.api.api import JSONRenderer


def test_the_same_json_as_ninjas_renderer_in_utf8():
    data = {"amount": Decimal("1280.50"), "at": datetime(2024, 3, 15, 9, 30, 1, 123456, tzinfo=UTC),
            "day": date(2024, 3, 15), "clock": time(9, 30), "id": uuid.UUID(int=7),
            "title": "报销差旅费", "lazy": gettext_lazy("Records"), 3: ["键", None, 1.5, True],
            "nested": [{"x": Decimal("0.10")}]}
    ours = JSONRenderer().render(None, data, response_status=200)
    theirs = NinjaRenderer().render(None, data, response_status=200)
    assert json.loads(ours) == json.loads(theirs)
    assert "报销差旅费".encode() in ours
    assert json.loads(ours)["at"] == "2024-03-15T09:30:01.123Z"

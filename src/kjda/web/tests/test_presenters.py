"""Display helpers: the dashboard chart, bilingual texts, amounts."""

from __future__ import annotations

from decimal import Decimal

from django.utils import translation

from kjda.web.presenters import year_category_chart, year_category_table
from kjda.web.templatetags.kjda_web import bi, money

CATEGORIES = ["会计凭证", "会计账簿", "财务会计报告", "其他会计资料"]
ROWS = [
    {"fiscal_year": 2024, "category__name": "会计凭证", "count": 11},
    {"fiscal_year": 2024, "category__name": "其他会计资料", "count": 6},
    {"fiscal_year": 2023, "category__name": "会计凭证", "count": 3},
]


def test_chart_stacks_categories_per_year_on_a_round_scale():
    chart = year_category_chart(ROWS, CATEGORIES)
    assert [b["year"] for b in chart.bars] == [2023, 2024]
    assert [b["total"] for b in chart.bars] == [3, 17]
    assert [t["value"] for t in chart.ticks] == [0, 5, 10, 15, 20]
    tallest = chart.bars[1]
    assert [s["category"] for s in tallest["segments"]] == ["会计凭证", "其他会计资料"]
    # Segments sit on each other and the bar's height is its share of the axis.
    low, high = tallest["segments"]
    assert abs(low["y"] - (high["y"] + high["h"])) < 0.2
    assert abs(low["y"] + low["h"] - chart.baseline) < 0.2
    assert year_category_chart([], CATEGORIES) is None


def test_matrix_has_totals_newest_year_first():
    table = year_category_table(ROWS, CATEGORIES)
    assert [r["year"] for r in table["rows"]] == [2024, 2023]
    assert table["rows"][0]["cells"] == [11, 0, 0, 6] and table["rows"][0]["total"] == 17
    assert table["totals"] == [14, 0, 0, 6] and table["grand_total"] == 20


def test_bilingual_text_follows_the_language_without_losing_numbers():
    with translation.override("zh-hans"):
        assert bi("2 个文件 / files") == "2 个文件"
    with translation.override("en"):
        assert bi("通过 / passed") == "passed"
        assert bi("2 个文件 / files") == "2 个文件 / files"
        assert bi("件号 0002 接续 / follows 0002") == "follows 0002"
        assert bi("no separator") == "no separator"


def test_money_keeps_two_decimals_with_separators():
    assert money(Decimal("1280.5")) == "1,280.50"
    assert money(None) == ""

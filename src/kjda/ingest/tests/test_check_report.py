"""The check report lists the checks in the order they are declared, whatever stage ran them."""

from __future__ import annotations

from kjda.ingest import checks
from kjda.ingest.checks import FAIL, PASS, CheckResult


def _result(code: str, outcome: str) -> CheckResult:
    return CheckResult(code, code, checks.AUTHENTICITY, outcome, outcome == FAIL, "")


def test_report_order_is_declaration_order_across_stages():
    declared = list(checks._ORDER)
    assert declared.index("GD-1-1") < declared.index("GD-1-8") < declared.index("GD-1-9")
    # the order the stages append them in: before (1-1, 1-9), filing (1-8), after (1-7)
    results = [_result("GD-1-1", FAIL), _result("GD-1-9", FAIL), _result("GD-1-8", FAIL),
               _result("GD-1-7", PASS)]
    report = checks.report(results)
    expected = sorted(["GD-1-1", "GD-1-9", "GD-1-8", "GD-1-7"], key=declared.index)
    assert [i["code"] for i in report["items"]] == expected
    assert report["blocking_failures"] == [c for c in expected if c != "GD-1-7"]
    assert report["failures"] == report["blocking_failures"] and report["passed"] is False

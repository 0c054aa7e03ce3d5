from datetime import date
from decimal import Decimal

from kjda.invoices import codes


def test_uscc_check_digit_accepts_valid_and_rejects_one_changed_character():
    # GB 32100-2015's own worked example value.
    valid = "91350100M000100Y43"
    assert codes.uscc_valid(valid)
    assert not codes.uscc_valid(valid[:-1] + "4")
    assert not codes.uscc_valid("000000000000000000")  # passes the arithmetic, is a placeholder
    assert codes.tax_id_clean(" 91350100m000100y43 ") == valid
    assert codes.tax_id_clean(valid[:-1] + "4") == ""


def test_invoice_number_and_code_lengths():
    assert codes.invoice_number_clean("00008006") == "00008006"
    assert codes.invoice_number_clean("24322000000489101796") == "24322000000489101796"
    assert codes.invoice_number_clean("123456789") == ""
    assert codes.invoice_number_clean("00000000") == ""
    assert codes.invoice_code_clean("052002100113") == "052002100113"
    assert codes.invoice_code_clean("1200154130") == "1200154130"
    assert codes.invoice_code_clean("12345") == ""


def test_qr_string_of_each_kind():
    old = codes.qr_parse("01,10,011001605111,80100798,64.9,20161018,85342965681116380258,BE2D")
    assert old and old.kind == "增值税电子普通发票" and old.amount == Decimal("64.90")
    assert old.issue_date == date(2016, 10, 18) and old.check_code == "85342965681116380258"
    special = codes.qr_parse("01,01,1200154130,03630024,94339.62,20160621,,9335,")
    assert special and special.invoice_code == "1200154130" and special.check_code == ""
    digital = codes.qr_parse("01,32,,24312000000136634917,0.01,20240514,,1DD6")
    assert digital and digital.digital and digital.invoice_code == ""
    assert codes.qr_parse("https://example.invalid/?01,10") is None
    assert codes.qr_parse("02,10,011001605111,80100798,64.9,20161018") is None


def test_identity_key():
    assert codes.identity_key(invoice_code="050001700111", invoice_number="99999951") == \
        "050001700111-99999951"
    assert codes.identity_key(invoice_code="", invoice_number="24112000000048542163") == \
        "24112000000048542163"
    assert codes.identity_key(invoice_code="", invoice_number="99999951") == ""


def test_dates_and_amounts():
    assert codes.date_parse("2020年10月10日") == date(2020, 10, 10)
    assert codes.date_parse("2026-05-19 10:00:00") == date(2026, 5, 19)
    assert codes.date_parse("2024 11 07") is None
    assert codes.amount_parse("¥ 1,234.5") == Decimal("1234.50")
    assert codes.amount_parse("CNY 477.06") == Decimal("477.06")
    assert codes.amount_parse("壹拾叁圆整") is None

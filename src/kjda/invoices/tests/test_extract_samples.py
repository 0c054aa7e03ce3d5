"""Every invoice sample yields its number, date, amounts, seller and buyer; the values are
compared with the files' own structured data (read here with the standard library)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from defusedxml import ElementTree as ET

from kjda.formats.ofd import OFDPackage
from kjda.invoices import codes
from kjda.invoices.services import invoice_extract

# OFD sample → the invoice_xml/ file extracted from it byte for byte (MANIFEST).
WITH_XML = {
    "easyofd_增值税电子专票5.ofd": "easyofd_增值税电子专票5__original_invoice.xml",
    "ofdrw_converter_1.ofd": "ofdrw_converter_1__original_invoice.xml",
    "ofdrw_converter_999.ofd": "ofdrw_converter_999__original_invoice.xml",
    "ofdrw_converter_draw_param_ref.ofd": "ofdrw_converter_draw_param_ref__original_invoice.xml",
    "ofdrw_converter_发票示例.ofd": "ofdrw_converter_发票示例__original_invoice.xml",
    "ofdrw_sign_signedFile.ofd": "ofdrw_sign_signedFile__original_invoice.xml",
    "ofdrw_sign_v4signed.ofd": "ofdrw_sign_v4signed__original_invoice.xml",
    "ofdrw_converter_SignScaleError.ofd":
        "ofdrw_converter_SignScaleError__inv_ord_issuer_20220901_03300220021199934328.xml",
}
DIGITAL = ["erma0_fapiao-print_sample_数电.ofd", "ofdrw_reader_发票示例_数电.ofd"]


def _xml_values(path) -> dict:
    root = ET.parse(path).getroot()
    found = {el.tag.rsplit("}", 1)[-1]: (el.text or "").strip() for el in root.iter()}
    if root.tag.endswith("xbrl"):
        return {"invoice_number": found["NumberOfInvoice"], "issue_date": found["DateOfIssue"],
                "total_excl_tax": found["TotalAmountExcludingTax"],
                "total_tax": found["TotalTaxAmount"],
                "total_incl_tax": found["TaxIncludedAmountInFigures"],
                "seller_name": found["NameOfSeller"], "buyer_name": found["NameOfPurchaser"]}
    return {"invoice_number": found["InvoiceNo"], "issue_date": found["IssueDate"],
            "total_excl_tax": found["TaxExclusiveTotalAmount"],
            "total_tax": found["TaxTotalAmount"], "total_incl_tax": found["TaxInclusiveTotalAmount"],
            "seller_name": found["SellerName"], "buyer_name": found["BuyerName"],
            "invoice_code": found["InvoiceCode"], "seller_tax_id": found["SellerTaxID"]}


def _assert_matches(inv: dict, expected: dict) -> None:
    """Compares field by field and reports only the names of fields that differ: the samples
    hold real names and tax IDs, which must not appear in test output."""
    want = dict(expected, issue_date=codes.date_parse(expected["issue_date"]).isoformat())
    if "seller_tax_id" in want:
        # A tax ID is kept exactly when it is one (GB 32100 check digit for 18 characters).
        want["seller_tax_id"] = codes.tax_id_clean(want["seller_tax_id"])
    amounts = ("total_excl_tax", "total_tax", "total_incl_tax")
    wrong = [k for k, v in want.items()
             if (Decimal(inv[k] or "NaN") != Decimal(v) if k in amounts else inv[k] != v)]
    assert wrong == []


@pytest.mark.parametrize("name", sorted(WITH_XML.values()))
def test_invoice_xml_yields_its_fields(samples, name):
    path = samples / "invoice_xml" / name
    inv = invoice_extract(path, "xml")
    assert inv is not None
    _assert_matches(inv, _xml_values(path))
    assert all(v.startswith("xml:") for k, v in inv["sources"].items() if k != "kind")
    assert inv["conflicts"] == []


@pytest.mark.parametrize("name", sorted(WITH_XML))
def test_ofd_invoice_yields_the_fields_of_its_xml(samples, name):
    inv = invoice_extract(samples / "ofd_invoices" / name, "ofd")
    assert inv is not None
    _assert_matches(inv, _xml_values(samples / "invoice_xml" / WITH_XML[name]))
    assert inv["sources"]["invoice_number"].startswith("xml:")
    assert inv["identity"]
    # The other sources of the package say the same (custom data, tags, QR picture, page text).
    assert inv["conflicts"] == []


def test_unsigned_template_variant_reads_from_custom_data(samples):
    inv = invoice_extract(samples / "ofd_invoices" / "ofdrw_layout_fptpl.ofd", "ofd")
    _assert_matches(inv, _xml_values(samples / "invoice_xml" /
                                     "ofdrw_converter_999__original_invoice.xml"))
    assert inv["sources"]["invoice_number"] == "ofd:custom_data"


@pytest.mark.parametrize("name", DIGITAL)
def test_digital_invoice_ofd_reads_custom_data_and_tags(samples, name):
    path = samples / "ofd_invoices" / name
    with OFDPackage.open(path) as pkg:
        doc = pkg.documents()[0]
        data = doc.custom_data()
        page_text = doc.text().replace(" ", "")
    inv = invoice_extract(path, "ofd")
    assert inv["invoice_number"] == data["发票号码"] and len(inv["invoice_number"]) == 20
    assert inv["identity"] == data["发票号码"]
    assert inv["issue_date"] == codes.date_parse(data["开票日期"]).isoformat()
    assert inv["total_excl_tax"] == data["合计金额"] and inv["total_tax"] == data["合计税额"]
    assert Decimal(inv["total_incl_tax"]) == Decimal(data["合计金额"]) + Decimal(data["合计税额"])
    assert inv["sources"]["total_incl_tax"] == "ofd:custom_tag"
    # Booleans first: a failure must not print the real IDs and names.
    checks = {
        "seller_tax_id": inv["seller_tax_id"] == data["销售方纳税人识别号"],
        "buyer_tax_id": inv["buyer_tax_id"] == data["购买方纳税人识别号"],
        "seller_name": bool(inv["seller_name"]) and inv["seller_name"] in page_text,
        "buyer_name": bool(inv["buyer_name"]) and inv["buyer_name"] in page_text,
    }
    assert [k for k, ok in checks.items() if not ok] == []
    assert inv["sources"]["seller_name"] == "ofd:custom_tag"
    assert inv["kind"].startswith("电子发票")
    assert inv["conflicts"] == []


def test_masked_invoice_yields_no_made_up_ids(samples):
    inv = invoice_extract(samples / "ofd_invoices" / "ofdrw_converter_csfapiao1_masked.ofd", "ofd")
    assert inv is not None and inv["kind"] == "增值税电子普通发票"
    for field in ("invoice_code", "invoice_number", "check_code", "seller_tax_id",
                  "buyer_tax_id", "buyer_name", "identity"):
        assert inv[field] == "", field


def test_text_pdf_of_a_digital_invoice(samples):
    inv = invoice_extract(samples / "einvoice_pdf" / "easyofd_test_四川数电专票_rendered.pdf", "pdf")
    assert inv["kind"] == "电子发票（增值税专用发票）"
    assert len(inv["invoice_number"]) == 20 and inv["identity"] == inv["invoice_number"]
    assert inv["sources"]["invoice_number"] == "pdf:text"
    assert Decimal(inv["total_excl_tax"]) + Decimal(inv["total_tax"]) == \
        Decimal(inv["total_incl_tax"])
    has_names = bool(inv["seller_name"]) and bool(inv["buyer_name"])
    valid_ids = codes.uscc_valid(inv["seller_tax_id"]) and codes.uscc_valid(inv["buyer_tax_id"])
    assert has_names and valid_ids
    assert inv["conflicts"] == []
    # The QR on the rendered page agrees with the text layer (§9.4: 数电票 QR amount = 价税合计).
    for field in ("invoice_number", "issue_date", "total_incl_tax"):
        assert inv["confirmed_by"][field] == ["qr"], field


def test_airline_itinerary_is_identified_with_its_key_fields(samples):
    inv = invoice_extract(samples / "eticket" /
                          "ofdrw_converter_xbrl-001_航空电子客票行程单_preview.pdf", "pdf")
    assert inv["kind"] == codes.KIND_AIRLINE
    assert inv["details"]["ticket_number"] == "7841234567890"
    assert "CZ8866" in inv["details"]["flights"]
    assert inv["issue_date"] == "2021-07-28"
    # Amounts printed under their column labels: total, VAT, fare, fuel surcharge, CAAC fund.
    assert (inv["total_incl_tax"], inv["total_tax"]) == ("620.00", "47.07")
    assert (inv["details"]["fare"], inv["details"]["fuel_surcharge"],
            inv["details"]["civil_aviation_fund"]) == ("477.06", "45.87", "50.00")
    assert inv["buyer_name"] == ""  # printed masked (北京XXX公司)
    # The preview's invoice number is a placeholder of 19 digits: not a number, left empty.
    assert inv["invoice_number"] == "" and inv["identity"] == ""
    assert inv["buyer_tax_id"] == ""  # printed masked (XXXX)


def test_a_pdf_that_is_no_invoice_yields_none():
    from kjda_oasim.factories import pdf_bytes

    assert invoice_extract(pdf_bytes(["会议纪要", "第三季度预算讨论"]), "pdf") is None
    assert invoice_extract(b"<root><a>1</a></root>", "xml") is None


def test_damaged_or_foreign_files_yield_none_without_raising(samples):
    ofd = (samples / "ofd_invoices" / "ofdrw_converter_1.ofd").read_bytes()
    assert invoice_extract(ofd[: len(ofd) // 2], "ofd") is None  # truncated package
    assert invoice_extract(b"%PDF-1.7\n garbage", "pdf") is None
    assert invoice_extract(b"\x89PNG\r\n\x1a\n broken", "png") is None
    assert invoice_extract(samples / "ofd_edge_cases" / "ofdrw_reader_zip_boom.zip", "ofd") is None
    assert invoice_extract(samples / "ofd_general" / "ofdrw_converter_helloworld.ofd", "ofd") is None

"""Issue 15 item 10: active content (scripts, launch actions, embedded programs) in a received
PDF or OFD is a security item of the check report (GD-4-2.1), filed with a warning or held for
review by KJDA_ACTIVE_CONTENT; ordinary invoices are not flagged. Through the upload API."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name, String

from kjda_oasim.factories import metadata_json, voucher_pdf

SAMPLES = Path(__file__).resolve().parents[4].parent / "shared" / "samples"


def _base() -> pikepdf.Pdf:
    data = voucher_pdf(number="0015", summary="报销差旅费", amount=Decimal("1280.50"),
                       day=date(2024, 3, 15))
    return pikepdf.open(io.BytesIO(data))


def _saved(pdf: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def pdf_js_open_action() -> bytes:
    pdf = _base()
    pdf.Root.OpenAction = pdf.make_indirect(
        Dictionary(S=Name.JavaScript, JS=String("app.launchURL('http://x.invalid')")))
    return _saved(pdf)


def pdf_launch_action() -> bytes:
    pdf = _base()
    link = Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=[0, 0, 50, 50], F=4,
                      A=Dictionary(S=Name.Launch, F=String("cmd.exe"),
                                   Win=Dictionary(F=String("cmd.exe"), P=String("/c calc"))))
    pdf.pages[0].Annots = pdf.make_indirect(Array([link]))
    return _saved(pdf)


def pdf_xfa_script() -> bytes:
    pdf = _base()
    xfa = pdf.make_stream(b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/"><template><subform>'
                          b'<event activity="initialize"><script contentType="application/'
                          b'x-javascript">xfa.host.messageBox(1)</script></event></subform>'
                          b'</template></xdp:xdp>')
    pdf.Root.AcroForm = pdf.make_indirect(Dictionary(Fields=Array(), XFA=xfa))
    return _saved(pdf)


def pdf_embedded(name: str, data: bytes) -> bytes:
    pdf = _base()
    pdf.attachments[name] = pikepdf.AttachedFileSpec(pdf, data, filename=name)
    return _saved(pdf)


def _file(api, content: bytes, name: str = "记账凭证.pdf", **meta) -> dict:
    resp = api.post_record(metadata_json(files=[{"document_type": "记账凭证"}], **meta),
                           [(name, content)])
    assert resp.status_code == 201, resp.content
    return resp.json()


def _item(body: dict) -> dict:
    [item] = [i for i in body["check_report"]["items"] if i["code"] == "GD-4-2.1"]
    return item


@pytest.mark.parametrize(("make", "words"), [
    (pdf_js_open_action, "JavaScript"),
    (pdf_launch_action, "Launch"),
    (pdf_xfa_script, "XFA"),
    (lambda: pdf_embedded("invoice-viewer.exe", b"MZ\x90\x00\x03" + b"\x00" * 64), "invoice-viewer.exe"),
    (lambda: pdf_embedded("readme.dat", b"MZ\x90\x00\x03" + b"\x00" * 64), "readme.dat"),  # renamed
])
def test_active_content_is_a_security_warning_and_the_record_is_filed(api, make, words):
    body = _file(api, make())
    item = _item(body)
    assert item["property"] == "安全性"
    assert item["result"] == "warn" and item["blocking"] is False
    assert words in item["reason"]
    assert body["status"] == "filed" and body["archive_no"]


def test_an_embedded_xml_invoice_is_not_flagged(api):
    body = _file(api, pdf_embedded("invoice.xml", b"<?xml version='1.0'?><EInvoice/>"))
    assert _item(body)["result"] == "pass"


def test_hold_keeps_the_record_pending_with_the_reason(api, settings):
    settings.KJDA_ACTIVE_CONTENT = "hold"
    body = _file(api, pdf_js_open_action())
    item = _item(body)
    assert item["result"] == "fail" and item["blocking"] is True
    assert "held for review" in item["reason"] and "暂缓归档" in item["reason"]
    assert body["status"] == "pending" and not body["archive_no"]
    assert "GD-4-2.1" in body["check_report"]["blocking_failures"]
    # an ordinary file is still filed under `hold`
    clean = _file(api, _saved(_base()), external_id="clean-1", document_no="记-0016")
    assert clean["status"] == "filed" and _item(clean)["result"] == "pass"


def _ofd_with(sample: Path, extra: str, members: dict[str, bytes] | None = None) -> bytes:
    """The sample OFD with `extra` added to its Document.xml (before the closing tag), and
    `members` added to the package."""
    src = zipfile.ZipFile(sample)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "Doc_0/Document.xml":
                text = data.decode()
                prefix = re.search(r"<(\w+:)?Document\b", text).group(1) or ""
                text = text.replace(f"</{prefix}Document>", extra.replace("ofd:", prefix)
                                    + f"</{prefix}Document>")
                data = text.encode()
            dst.writestr(info.filename, data)
        for name, data in (members or {}).items():
            dst.writestr(name, data)
    return out.getvalue()


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not there")
    return SAMPLES


def test_an_ofd_action_opening_a_local_program_is_flagged(api, samples):
    sample = samples / "ofd_invoices" / "ofdrw_reader_发票示例_数电.ofd"
    content = _ofd_with(sample, '<ofd:Actions><ofd:Action Event="DO">'
                                '<ofd:URI URI="file:///C:/Windows/System32/calc.exe"/>'
                                '</ofd:Action></ofd:Actions>')
    body = _file(api, content, name="发票.ofd")
    item = _item(body)
    assert item["result"] == "warn" and "URI" in item["reason"]


def test_an_ofd_with_an_executable_attachment_is_flagged(api, samples):
    sample = samples / "ofd_invoices" / "ofdrw_reader_发票示例_数电.ofd"
    listing = ('<?xml version="1.0" encoding="UTF-8"?><ofd:Attachments xmlns:ofd="http://www.ofdspec.org/2016">'
               '<ofd:Attachment ID="9001" Name="查看器" Format="exe"><ofd:FileLoc>tool.exe</ofd:FileLoc>'
               '</ofd:Attachment></ofd:Attachments>').encode()
    content = _ofd_with(sample, "<ofd:Attachments>Attachs/Attachments.xml</ofd:Attachments>",
                        {"Doc_0/Attachs/Attachments.xml": listing,
                         "Doc_0/Attachs/tool.exe": b"MZ\x90\x00" + b"\x00" * 64})
    item = _item(_file(api, content, name="发票.ofd"))
    assert item["result"] == "warn" and "tool.exe" in item["reason"]


@pytest.mark.parametrize("path", [
    "einvoice_pdf/easyofd_test_四川数电专票_rendered.pdf",
    "eticket/ofdrw_converter_xbrl-001_航空电子客票行程单_preview.pdf",
    "pdfa/pdfa3b_6-8-t02-pass-e.pdf",  # PDF/A-3 with an embedded file
    "ofd_invoices/ofdrw_converter_1.ofd",  # XML invoice attachment
    "ofd_invoices/ofdrw_converter_SignScaleError.ofd",  # XBRL attachment
    "ofd_invoices/erma0_fapiao-print_sample_数电.ofd",  # annotations
])
def test_ordinary_invoices_are_not_flagged(api, samples, path):
    f = samples / path
    body = _file(api, f.read_bytes(), name=f.name, external_id=path)
    assert _item(body)["result"] == "pass", json.dumps(_item(body), ensure_ascii=False)

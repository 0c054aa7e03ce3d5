"""OFDPackage and OFDDocument on every sample in ofd_general/, ofd_edge_cases/ and ofd_invoices/."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import pytest

from kjda.formats.ofd.document import parse_ofd_date
from kjda.formats.ofd.package import OFDError, OFDLimits, OFDPackage, parse_xml
from kjda_oasim.testing import SAMPLES

needs_samples = pytest.mark.skipif(not SAMPLES.exists(), reason=f"no sample corpus at {SAMPLES}")
GENERAL = sorted((SAMPLES / "ofd_general").glob("*.ofd"))
INVOICES = sorted((SAMPLES / "ofd_invoices").glob("*.ofd"))
EDGE = SAMPLES / "ofd_edge_cases"


def _open_doc(path):
    pkg = OFDPackage.open(path)
    docs = pkg.documents()
    assert len(docs) == 1
    return pkg, docs[0]


@needs_samples
@pytest.mark.parametrize("path", GENERAL + INVOICES, ids=lambda p: p.name)
def test_every_conformance_and_invoice_sample_opens_with_pages_and_text(path):
    pkg, doc = _open_doc(path)
    with pkg:
        assert doc.pages, "every sample has at least one page"
        assert all(p.path for p in doc.pages), doc.problems
        texts = doc.page_texts()
        assert len(texts) == len(doc.pages)
        assert any(t.strip() for t in texts), "every one of these samples carries a text layer"


@needs_samples
def test_conformance_samples_give_the_same_text_whatever_the_zip_layout():
    # 6.1.x vary compression and entry order, 6.2.x the directory structure (parallel, spaces,
    # escape characters, shuffled): the document inside is the same two pages.
    c5 = [p for p in GENERAL if p.name.startswith("c5soft_")]
    assert len(c5) == 8
    results = set()
    for path in c5:
        pkg, doc = _open_doc(path)
        with pkg:
            assert doc.info.author == "OFD样例研制组"
            assert doc.info.creation_date == date(2015, 2, 26)
            assert len(doc.images()) == 6 and all(m.path for m in doc.images())
            results.add(tuple(doc.page_texts()))
    assert len(results) == 1
    page1 = next(iter(results))[0]
    assert page1.splitlines()[0] == "BMP 格式 JPG 格式", "one line, left to right"


@needs_samples
def test_parallel_structure_resolves_pages_and_images_at_the_package_root():
    pkg, doc = _open_doc(SAMPLES / "ofd_general" / "c5soft_6.2.002 平行结构文件.ofd")
    assert [p.path for p in doc.pages] == ["Content_1.xml", "Content_2.xml"]
    assert {m.path for m in doc.images()} >= {"image_10.bmp", "image_12.jpg"}
    assert doc.image_bytes("12")[:2] == b"\xff\xd8"


@needs_samples
def test_chinese_directory_names_are_decoded():
    with OFDPackage.open(SAMPLES / "ofd_general" / "ofdrw_reader_chineseDir.ofd") as pkg:
        assert "Doc_0/Res/这是一个中文目录/数据文件.txt" in pkg.names()


@needs_samples
def test_gbk_names_without_the_utf8_flag_are_decoded_and_the_non_ofd_refused_clearly():
    with OFDPackage.open(EDGE / "ofdrw_reader_DOC_0_gbk_names.zip") as pkg:
        assert "DOC_0/你好/Content.xml" in pkg.names()
        assert "DOC_0/新建文本文档.txt" in pkg.names()
        with pytest.raises(OFDError) as err:
            pkg.documents()
    assert err.value.code == "ofd_no_entry_file"
    assert "OFD.xml" in err.value.zh and "OFD.xml" in err.value.en


@needs_samples
def test_zip_bomb_is_refused_from_the_central_directory_before_any_data_is_read():
    with pytest.raises(OFDError) as err:
        OFDPackage.open(EDGE / "ofdrw_reader_zip_boom.zip")
    assert err.value.code in ("ofd_entry_too_large", "ofd_compression_ratio", "ofd_too_large")
    assert err.value.detail["stage"] == "declared"
    assert err.value.as_dict()["message_zh"] and err.value.as_dict()["message_en"]


def _zip(entries: dict[str, bytes], *, compress=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_compression_ratio_guard_catches_a_bomb_under_the_size_caps():
    data = _zip({"OFD.xml": b"<OFD/>", "Doc_0/big.xml": b" " * (4 * 1024 * 1024)})
    with pytest.raises(OFDError) as err:
        OFDPackage.open(data)
    assert err.value.code == "ofd_compression_ratio"
    assert err.value.detail["stage"] == "declared"


def _declare_size(raw: bytes, member: str, size: int) -> bytes:
    """Rewrite the uncompressed size a member declares, in its local and central headers."""
    out = bytearray(raw)
    for sig, size_at, name_len_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        pos = out.find(sig)
        while pos != -1:
            nlen = int.from_bytes(out[pos + name_len_at:pos + name_len_at + 2], "little")
            if out[pos + name_at:pos + name_at + nlen] == member.encode():
                out[pos + size_at:pos + size_at + 4] = size.to_bytes(4, "little")
            pos = out.find(sig, pos + 4)
    return bytes(out)


def test_a_member_that_lies_about_its_size_is_stopped_while_reading():
    # The headers claim 100 bytes; the data inflates to 2 MiB. zipfile stops at the declared
    # size and the CRC then fails: the read is refused, never returned short.
    raw = _declare_size(_zip({"OFD.xml": b"<OFD/>", "a.xml": b"x" * (2 * 1024 * 1024)}), "a.xml", 100)
    with OFDPackage.open(raw) as pkg:
        assert pkg.size_of("a.xml") == 100
        with pytest.raises(OFDError) as err:
            pkg.read("a.xml")
    assert err.value.code in ("ofd_corrupt_entry", "ofd_entry_too_large")


def test_entry_count_and_total_caps():
    many = _zip({f"f{i}.xml": b"<a/>" for i in range(30)} | {"OFD.xml": b"<OFD/>"})
    with pytest.raises(OFDError) as err:
        OFDPackage.open(many, limits=OFDLimits(max_entries=10))
    assert err.value.code == "ofd_too_many_entries"
    big = _zip({"OFD.xml": b"<OFD/>", "a.bin": bytes(range(256)) * 800, "b.bin": bytes(range(256)) * 800},
               compress=zipfile.ZIP_STORED)
    with pytest.raises(OFDError) as err:
        OFDPackage.open(big, limits=OFDLimits(max_total_bytes=300_000))
    assert err.value.code == "ofd_too_large"


@pytest.mark.parametrize("name", ["../evil.xml", "/etc/passwd", "Doc_0/../../x.xml", "C:/x.xml", "a\\..\\..\\b"])
def test_path_traversal_members_are_refused(name):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("OFD.xml", b"<OFD/>")
        zf.writestr(zipfile.ZipInfo(name), b"x")
    with pytest.raises(OFDError) as err:
        OFDPackage.open(buf.getvalue())
    assert err.value.code == "ofd_unsafe_path"


def test_references_cannot_climb_out_and_are_resolved_relative_absolute_and_case_insensitively():
    with OFDPackage.open(_zip({"OFD.xml": b"<OFD/>", "DOC_0/Res/Image.JPEG": b"img"})) as pkg:
        assert pkg.find("Res/Image.JPEG", "Doc_0") == "DOC_0/Res/Image.JPEG"
        assert pkg.find("/DOC_0/Res/Image.JPEG") == "DOC_0/Res/Image.JPEG"
        assert pkg.find("../../../../OFD.xml", "Doc_0/Res") == "OFD.xml"  # clamped at the root
        assert pkg.find("Res/Image%2EJPEG", "DOC_0") == "DOC_0/Res/Image.JPEG"
        assert pkg.find("nope.xml") is None
        with pytest.raises(OFDError) as err:
            pkg.read("nope.xml")
        assert err.value.code == "ofd_missing_entry"


def test_not_a_zip_and_xml_with_a_doctype_are_refused():
    with pytest.raises(OFDError) as err:
        OFDPackage.open(b"%PDF-1.7 not a zip")
    assert err.value.code == "ofd_not_zip"
    bomb = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxx">]><OFD>&x;</OFD>'
    with OFDPackage.open(_zip({"OFD.xml": bomb})) as pkg, pytest.raises(OFDError) as err:
        pkg.documents()
    assert err.value.code == "ofd_xml_doctype"


@needs_samples
def test_namespace_quirks_are_tolerated():
    # Legacy namespace http://www.ofdspec.org (not /2016).
    root = parse_xml((EDGE / "ofdrw_pkg_namespace_case.xml").read_bytes())
    assert root.tag == "Page"
    assert root.find("Content/Layer/ImageObject").get("ResourceID") == "6489"
    pkg, doc = _open_doc(EDGE / "ofdrw_sign_namespace_no_std.ofd")
    assert doc.page_texts() == ["你好呀，OFD Reader&Writer！"]
    # An element with no namespace beside prefixed ones (WPS), and a prefix bound to nothing.
    assert parse_xml(b'<ofd:A xmlns:ofd="http://www.ofdspec.org/2016"><B>1</B></ofd:A>').find("B").text == "1"
    fixed = parse_xml(b'<?xml version="1.0"?><:eInvoice xmlns:=""><InvoiceNo><ofd:ObjectRef PageRef="1">7'
                      b"</ofd:ObjectRef></InvoiceNo></:eInvoice>")
    assert fixed.tag == "eInvoice" and fixed.find("InvoiceNo/ObjectRef").text == "7"


@needs_samples
def test_wps_pdf_style_date_and_case_mismatched_resource_paths():
    pkg, doc = _open_doc(EDGE / "ofdrw_converter_containsJPEG_wps.ofd")
    assert doc.info.creation_date_raw.startswith("D:2022")
    created = doc.info.creation_date
    assert isinstance(created, datetime) and created.date() == date(2022, 7, 8)
    assert created.utcoffset().total_seconds() == 2 * 3600 + 34 * 60
    images = doc.images()
    assert len(images) == 2 and all(m.path and m.path.startswith("DOC_0/Res/") for m in images)
    assert doc.image_bytes(images[0].id)[:2] == b"\xff\xd8"
    assert len(doc.pages) == 2


def test_date_forms():
    assert parse_ofd_date("2020-04-25") == date(2020, 4, 25)
    assert parse_ofd_date("2020/04/23 16:02:18") == datetime(2020, 4, 23, 16, 2, 18)
    assert parse_ofd_date("2025年01月06日") == date(2025, 1, 6)
    assert parse_ofd_date("20210331075023Z").year == 2021
    assert parse_ofd_date("") is None and parse_ofd_date("not a date") is None


@needs_samples
def test_missing_image_is_tolerated_and_reported():
    pkg, doc = _open_doc(EDGE / "ofdrw_converter_testImageNotFound.ofd")
    missing = [m for m in doc.images() if m.path is None]
    assert missing and doc.image_bytes(missing[0].id) is None
    assert all(t.strip() for t in doc.page_texts())


@needs_samples
def test_no_page_container_document_still_has_its_page_and_attachment():
    pkg, doc = _open_doc(EDGE / "ofdrw_layout_no_page_container.ofd")
    assert [p.path for p in doc.pages] == ["Doc_0/Content_0.xml"]
    assert doc.page_texts()[0].strip()
    (att,) = doc.attachments()
    assert att.filename == "original_invoice.xml" and att.format == "xml"
    assert att.data.lstrip().startswith(b"<?xml")


@needs_samples
def test_non_standard_paths_pages_and_custom_tags():
    pkg, doc = _open_doc(EDGE / "ofdrw_reader_path_unstd.ofd")
    assert [p.path for p in doc.pages] == ["Doc_0/Pages/Page_0/Content.xml",
                                           "Doc_0/Pages/Page_Insert_55_2/Content.xml"]
    data = doc.custom_data()
    assert data["元数据名称_2"] == "立案决定书"
    tags = doc.custom_tags()
    # The tag points at the page object whose text is the same as the custom data entry.
    assert tags["标引节点名称_14"] == ["立案决定书"]
    assert "立案决定书" in doc.page_texts()[1]
    pkg, doc = _open_doc(EDGE / "ofdrw_converter_不规范资源路径.ofd")
    assert doc.info.title == "结婚证.png"
    assert doc.images()[0].path == "Doc_0/Res/2.gif"
    assert doc.pages[0].path == "Doc_0/Page_1/Content.xml"


@needs_samples
def test_invoice_attachments_custom_data_and_custom_tags_agree():
    pkg, doc = _open_doc(SAMPLES / "ofd_invoices" / "ofdrw_converter_1.ofd")
    (att,) = doc.attachments()
    assert att.name == "original_invoice" and att.filename == "original_invoice.xml"
    assert b"eInvoice" in att.data
    number = doc.custom_data()["发票号码"]
    assert len(number) == 8 and number.isdigit()
    tags = doc.custom_tags()
    assert tags["InvoiceNo"] == [number]
    assert number in doc.page_texts()[0]
    assert tags["BuyerTaxID"] == [doc.custom_data()["购买方纳税人识别号"]]
    assert [s.type for s in doc.signatures()] == ["Seal"]
    assert doc.signatures()[0].path == "Doc_0/Signs/Sign_0/Signature.xml"


@needs_samples
def test_xbrl_attachment_and_shudian_custom_tags():
    pkg, doc = _open_doc(SAMPLES / "ofd_invoices" / "ofdrw_converter_SignScaleError.ofd")
    (att,) = doc.attachments()
    assert att.format == "xbrl" and att.filename.endswith(".xml") and b"xbrl" in att.data.lower()
    pkg, doc = _open_doc(SAMPLES / "ofd_invoices" / "ofdrw_reader_发票示例_数电.ofd")
    number = doc.custom_data()["发票号码"]
    assert len(number) == 20
    assert number in "".join(doc.custom_tags().get("InvoiceNo", [])) or number in doc.page_texts()[0]

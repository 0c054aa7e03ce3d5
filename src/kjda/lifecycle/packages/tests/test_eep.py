"""A record's EEP (DA/T 48-2009): structure, signature, lock, tamper detection."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from lxml import etree

from kjda.lifecycle.packages.eep import NS, q, read_system_metadata, verify_eep, write_record_eep
from kjda.lifecycle.signing import configured_key


def _eep(ingest, tmp_path):
    record = ingest(1)
    dest = tmp_path / "r.xml"
    write_record_eep(record, dest, key=configured_key(), signer="archivist",
                     created=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    return record, dest


def test_a_record_eep_has_the_elements_of_dat48_and_the_file_bytes(ingest, package_key, tmp_path):
    record, dest = _eep(ingest, tmp_path)
    root = etree.parse(str(dest)).getroot()
    assert root.tag == q("电子文件封装包") and root.nsmap[None] == NS
    assert [etree.QName(c).localname for c in root] == [
        "封装包格式描述", "版本", "被签名对象", "电子签名块", "锁定签名"]
    signed = root.find(q("被签名对象"))
    assert signed.get("eep版本") == "2009" and signed.findtext(q("封装包类型")) == "原始型"
    content = signed.find(q("封装内容"))
    assert [etree.QName(c).localname for c in content][:3] == ["文件实体块", "业务实体块",
                                                               "机构人员实体块"]
    entity = content.find(f"{q('文件实体块')}/{q('文件实体')}")
    assert entity.find(q("档号")).get("值") == record.archive_no
    assert entity.findtext(f"{q('内容描述')}/{q('题名')}") == record.title
    from kjda.archives.models import RecordFile
    f = RecordFile.objects.get(record=record)
    data = base64.b64decode(entity.findtext(f".//{q('编码数据')}"))
    from kjda.storage.services import blob_open
    with blob_open(sha256=f.sha256) as fh:
        assert data == fh.read()
    assert content.find(f"{q('业务实体块')}/{q('业务实体')}/{q('业务行为')}") is not None
    assert read_system_metadata(dest)["fields"]["archive_no"] == record.archive_no


def test_the_signature_and_the_lock_verify_with_the_public_key(ingest, package_key, tmp_path):
    _record, dest = _eep(ingest, tmp_path)
    check = verify_eep(dest)
    assert check.ok, check.problems
    assert check.public_key == configured_key().public_pem
    assert not verify_eep(dest, trusted_keys={"some other key"}).ok


def test_a_tampered_eep_is_refused(ingest, package_key, tmp_path):
    _record, dest = _eep(ingest, tmp_path)
    text = dest.read_bytes()
    title = "报销差旅费 1".encode()
    meta_edit = tmp_path / "meta.xml"
    meta_edit.write_bytes(text.replace(title, "报销差旅费 9".encode(), 1))
    check = verify_eep(meta_edit)
    assert not check.ok and "电子签名 does not verify over 被签名对象" in check.problems
    # the file bytes changed (and their digest left alone)
    root = etree.parse(str(dest)).getroot()
    data = root.find(f".//{q('编码数据')}")
    raw = bytearray(base64.b64decode(data.text))
    raw[100] ^= 1
    data.text = base64.b64encode(bytes(raw)).decode()
    file_edit = tmp_path / "file.xml"
    etree.ElementTree(root).write(str(file_edit), encoding="utf-8", xml_declaration=True)
    problems = verify_eep(file_edit).problems
    assert any("does not match its digests" in p for p in problems)
    # a forged signature value
    root = etree.parse(str(dest)).getroot()
    res = root.find(f"{q('电子签名块')}/{q('电子签名')}/{q('签名结果')}")
    raw = bytearray(base64.b64decode(res.text))
    raw[0] ^= 1
    res.text = base64.b64encode(bytes(raw)).decode()
    sig_edit = tmp_path / "sig.xml"
    etree.ElementTree(root).write(str(sig_edit), encoding="utf-8", xml_declaration=True)
    problems = verify_eep(sig_edit).problems
    assert "电子签名 does not verify over 被签名对象" in problems and "锁定签名 does not verify" in problems


def test_an_sm2_key_signs_an_sm3_digest_that_verifies(ingest, settings, tmp_path):
    import subprocess

    from kjda.lifecycle.signing import SM2_ALGORITHM

    pem = tmp_path / "sm2.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", str(pem)], check=True,
                   capture_output=True)
    settings.KJDA_REGISTER_SIGNING_KEY = str(pem)
    _record, dest = _eep(ingest, tmp_path)
    root = etree.parse(str(dest)).getroot()
    sig = root.find(f"{q('电子签名块')}/{q('电子签名')}")
    assert sig.findtext(q("签名算法标识")) == SM2_ALGORITHM and sig.findtext(q("摘要算法")) == "SM3"
    assert verify_eep(dest).ok
    text = dest.read_bytes().replace("原始型".encode(), "修改型".encode(), 1)
    (tmp_path / "edited.xml").write_bytes(text)
    assert not verify_eep(tmp_path / "edited.xml").ok


def test_an_rsa_signed_eep_is_rsa_sha256_pkcs1_v15_as_receivers_check_it(ingest, package_key,
                                                                          tmp_path):
    """Issue 19 item 4 'SM2/SM3 or RSA-SHA256': XML-DSig's rsa-sha256 is PKCS#1 v1.5, which a
    receiver checks with the stock call, not RSA-PSS."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    _record, dest = _eep(ingest, tmp_path)
    root = etree.parse(str(dest)).getroot()
    for el in (root.find(f"{q('电子签名块')}/{q('电子签名')}"), root.find(q("锁定签名"))):
        assert el.findtext(q("签名算法标识")) == "RSA-SHA256"
        assert el.findtext(q("签名规则")).endswith(
            "→SHA256→RSA-SHA256(PKCS#1 v1.5, http://www.w3.org/2001/04/xmldsig-more#rsa-sha256)")
        public = serialization.load_pem_public_key(
            el.findtext(f"{q('证书块')}/{q('证书')}").encode())
        public.verify(base64.b64decode(el.findtext(q("签名结果"))),
                      el.findtext(q("摘要值")).encode("ascii"), padding.PKCS1v15(),
                      hashes.SHA256())  # raises InvalidSignature if it were PSS

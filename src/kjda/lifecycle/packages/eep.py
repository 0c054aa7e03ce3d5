"""Electronic-record encapsulation packages (EEP) per DA/T 48-2009 (standards.md §7.1).

One EEP per record: the DA/T 94 metadata (archives.export.record_metadata_xml) moved into the EEP
namespace as 文件实体 / 业务实体 / 机构人员实体, each computer file's bytes base64 in 编码数据, and
a 系统元数据 element (JSON) carrying the fields DA/T 94 has no element for, so that an import
reproduces the record exactly.

The XML is written incrementally (lxml.etree.xmlfile): a file's base64 goes out in chunks, so
no package is ever one string in memory. The 电子签名 signs the C14N 2.0 form of 被签名对象;
the 锁定签名 signs that plus the C14N form of 电子签名块. Canonicalisation is lxml's
(C14NWriterTarget fed by the streaming parser), restricted to the signed subtree.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from lxml import etree

from kjda.archives.export import record_metadata_xml
from kjda.archives.models import Record, RecordFile, RecordText, Volume
from kjda.invoices.models import Invoice
from kjda.lifecycle.signing import (
    RSA_ALGORITHM,
    RSA_ALGORITHM_URI,
    SM2_ALGORITHM,
    SigningKey,
    sign_digest,
    verify_digest,
)
from kjda.storage.digests import new_sm3
from kjda.storage.services import blob_read_verified

NS = "http://www.saac.gov.cn/standards/ERM/encapsulation"
FORMAT_DESCRIPTION = "本EEP根据中华人民共和国档案行业标准DA/T 48-2009《基于XML的电子文件封装规范》生成"
ORIGINAL_DESCRIPTION = "本封装包包含电子文件数据及其元数据，原始封装，未经修改"
ENCODING_DESCRIPTION = "本封装包中“编码数据”元素存储的是计算机文件二进制流的Base64编码"
SIGNED = "被签名对象"
SIGNATURE_BLOCK = "电子签名块"
LOCK = "锁定签名"
_CHUNK = 3 * 1024 * 256  # a multiple of 3: base64 of each chunk concatenates cleanly


def q(tag: str) -> str:
    return f"{{{NS}}}{tag}"




def _hasher_named(name: str) -> Any:
    return new_sm3() if name == "SM3" else hashlib.sha256()


# --- canonicalisation of a subtree, streamed --------------------------------------------------

class _SubtreeTarget:
    """A parser target passing only the events inside the first element named `names[0]` (and
    then `names[1]`, …) on to lxml's C14N 2.0 writer, so a subtree is canonicalised as it
    streams past, the rest of the document never reaching the writer."""

    def __init__(self, names: tuple[str, ...], write: Callable[[str], Any]) -> None:
        self.names = {q(n) for n in names}
        self.write = write
        self.writer: Any = None
        self.depth = 0
        self.pending_ns: list[tuple[str, str]] = []

    def start_ns(self, prefix: str, uri: str) -> None:
        self.pending_ns.append((prefix, uri))
        if self.writer is not None:
            self.writer.start_ns(prefix, uri)

    def start(self, tag: str, attrib: dict[str, str], nsmap: Any = None) -> None:
        if self.depth == 0 and tag in self.names:
            # each top subtree is canonicalised on its own, as if it were a document
            self.writer = etree.C14NWriterTarget(self.write)
            for prefix, uri in self.pending_ns:
                self.writer.start_ns(prefix, uri)
        if self.writer is not None:
            self.depth += 1
            self.writer.start(tag, attrib)

    def end(self, tag: str) -> None:
        if self.writer is None:
            return
        self.writer.end(tag)
        self.depth -= 1
        if self.depth == 0:
            self.writer.close()
            self.writer = None

    def data(self, text: str) -> None:
        if self.writer is not None:
            self.writer.data(text)

    def comment(self, text: str) -> None:  # comments are not part of the C14N form we sign
        pass

    def pi(self, target: str, data: str | None = None) -> None:
        pass

    def close(self) -> None:
        return None


def canonical_digest(source: Path | IO[bytes], names: tuple[str, ...], algorithm: str) -> str:
    """The hex digest (SHA256 or SM3) of the C14N 2.0 form of the subtrees named `names`, in
    document order, read from `source` in chunks."""
    hasher = _hasher_named(algorithm)
    target = _SubtreeTarget(names, lambda s: hasher.update(s.encode("utf-8")))
    parser = etree.XMLParser(target=target, huge_tree=True, resolve_entities=False, no_network=True)
    fh = open(source, "rb") if isinstance(source, Path) else source  # noqa: SIM115
    try:
        while chunk := fh.read(1 << 20):
            parser.feed(chunk)
        parser.close()
    finally:
        if isinstance(source, Path):
            fh.close()
    return str(hasher.hexdigest())


# --- writing ----------------------------------------------------------------------------------

def _renamespace(el: Any) -> Any:
    """A copy of an element of the DA/T 94 metadata in the EEP namespace."""
    for node in el.iter():
        if isinstance(node.tag, str):
            node.tag = q(etree.QName(node).localname)
    etree.cleanup_namespaces(el)
    return el


def record_system_metadata(record: Record) -> dict[str, Any]:
    """Everything an import needs to reproduce `record` exactly, beyond DA/T 94's elements."""
    skip = {"id", "fonds", "rule", "category", "volume", "created_by", "record_no"}
    fields: dict[str, Any] = {}
    for f in Record._meta.concrete_fields:
        if f.name in skip:
            continue
        fields[f.name] = field_json(f, record)
    rule = record.rule
    return {
        "record_no": str(record.record_no),
        "fonds": record.fonds.code,
        "category": record.category.name,
        "rule": {"schedule": rule.schedule, "seq": rule.seq, "name": rule.name,
                 "version": rule.version},
        "volume": record.volume.archive_no if record.volume else None,
        "fields": fields,
        "files": [_file_meta(f) for f in record.files.all().order_by("sequence")],
        "agents": [{"agent_type": a.agent_type, "name": a.name, "org_code": a.org_code,
                    "position": a.position, "role": a.role} for a in record.agents.all()],
        "events": [{"status": e.status, "action": e.action,
                    "occurred_at": e.occurred_at.isoformat(), "mandate": e.mandate,
                    "description": e.description, "agent_name": e.agent_name}
                   for e in record.business_events.all().order_by("occurred_at", "id")],
        "relations": [{"entity_identifier": r.entity_identifier,
                       "relation_type": r.relation_type, "relation": r.relation,
                       "description": r.description,
                       "target": str(r.target.record_no) if r.target else None}
                      for r in record.relations.all().order_by("id")],
        "text": (RecordText.objects.filter(record=record).values_list("content", flat=True)
                 .first() or ""),
        "invoices": [_invoice_meta(i) for i in Invoice.objects.filter(record=record)
                     .select_related("file", "duplicate_of").order_by("file__sequence")],
        "past_reports": [{"report": h.report, "status": h.status,
                          "superseded_at": h.superseded_at.isoformat(),
                          "superseded_by": h.superseded_by}
                         for h in record.past_reports.all().order_by("superseded_at", "id")],
    }


def field_json(field: Any, obj: Any) -> Any:
    """A field's value as JSON: None, JSON and plain values as they are, the rest (dates,
    decimals, UUIDs) as their Django string form (read back with `field.to_python`)."""
    value = field.value_from_object(obj)
    if value is None or field.get_internal_type() == "JSONField":
        return value
    if isinstance(value, bool | int | float | str):
        return value
    return field.value_to_string(obj)


def _invoice_meta(inv: Invoice) -> dict[str, Any]:
    skip = {"id", "record", "file", "duplicate_of"}
    out = {x.name: field_json(x, inv) for x in Invoice._meta.concrete_fields
           if x.name not in skip}
    out["file"] = inv.file.sequence
    out["duplicate_of"] = str(inv.duplicate_of.record_no) if inv.duplicate_of else None
    return out


def _file_meta(f: RecordFile) -> dict[str, Any]:
    skip = {"id", "record", "blob", "derived_from"}
    out = {x.name: field_json(x, f) for x in RecordFile._meta.concrete_fields
           if x.name not in skip}
    out["derived_from"] = f.derived_from.sequence if f.derived_from else None
    return out


def _leaf(xf: Any, tag: str, text: str, attrib: dict[str, str] | None = None) -> None:
    el = etree.Element(q(tag), attrib or {})
    el.text = text
    xf.write(el)


def _write_signed(xf: Any, record: Record, *, created: datetime, unit: str) -> None:
    meta = etree.fromstring(record_metadata_xml(record))
    with xf.element(q(SIGNED), {"eep版本": "2009"}):
        _leaf(xf, "封装包类型", "原始型")
        _leaf(xf, "封装包类型描述", ORIGINAL_DESCRIPTION)
        _leaf(xf, "封装包创建时间", created.replace(microsecond=0).isoformat())
        _leaf(xf, "封装包创建单位", unit)
        with xf.element(q("封装内容")):
            with xf.element(q("文件实体块")):
                entity = meta.find("{*}文件实体")
                with xf.element(q("文件实体")):
                    for child in entity:
                        xf.write(_renamespace(child))
                    for f in record.files.all().order_by("sequence"):
                        _write_document(xf, f)
                    _leaf(xf, "系统元数据", json.dumps(record_system_metadata(record),
                                                     ensure_ascii=False, sort_keys=True),
                          {"格式": "application/json"})
            with xf.element(q("业务实体块")):
                for n, be in enumerate(meta.findall("{*}业务实体"), start=1):
                    be = _renamespace(be)
                    be.insert(0, _el("文件标识符", str(record.record_no)))
                    be.insert(0, _el("业务标识符", f"{record.record_no}-B{n}"))
                    xf.write(be)
            with xf.element(q("机构人员实体块")):
                for n, ag in enumerate(meta.findall("{*}机构人员实体"), start=1):
                    ag = _renamespace(ag)
                    ag.tag = q("机构人员")
                    ag.insert(0, _el("机构人员标识符", f"{record.record_no}-A{n}"))
                    xf.write(ag)
            with xf.element(q("实体关系块")):
                for rel in meta.findall("{*}实体关系"):
                    xf.write(_renamespace(rel))


def _el(tag: str, text: str) -> Any:
    el = etree.Element(q(tag))
    el.text = text
    return el


def _write_document(xf: Any, f: RecordFile) -> None:
    with xf.element(q("文档"), {"文档序号": str(f.sequence)}):
        _leaf(xf, "文档标识符", f"{f.record.record_no}-{f.sequence}")
        with xf.element(q("文档数据")), xf.element(q("编码")):
            with xf.element(q("电子属性")):
                _leaf(xf, "计算机文件名", f.filename)
                _leaf(xf, "计算机文件大小", str(f.size))
                _leaf(xf, "格式信息", f.mime or f.format_name)
                _leaf(xf, "SHA256", f.sha256)
                _leaf(xf, "SM3", f.sm3)
            _leaf(xf, "编码描述", ENCODING_DESCRIPTION)
            _leaf(xf, "反编码关键字", "base64")
            with xf.element(q("编码数据")):
                buf = b""
                # the stored bytes, checked against their digests as they are read
                for chunk in blob_read_verified(sha256=f.sha256, sm3=f.sm3, size=f.size):
                    buf += chunk
                    cut = len(buf) - len(buf) % 3
                    if cut:
                        xf.write(base64.b64encode(buf[:cut]).decode("ascii"))
                        buf = buf[cut:]
                if buf:
                    xf.write(base64.b64encode(buf).decode("ascii"))


def _signature_rule(name: str) -> str:
    """How the digest is signed, by the name receivers' tools know (XML-DSig for RSA)."""
    if name == RSA_ALGORITHM:
        return f"{name}(PKCS#1 v1.5, {RSA_ALGORITHM_URI})"
    return name


def _signature_element(tag: str, sig: dict[str, str], *, algorithm: str, when: str,
                       signer: str, ident: str) -> Any:
    el = etree.Element(q(tag))
    for name, value in (("签名标识符", ident),
                        ("签名规则", f"C14N2.0({'被签名对象' if tag == '电子签名' else '被签名对象+电子签名块'})"
                                    f"→{algorithm}→{_signature_rule(sig['algorithm'])}"),
                        ("签名时间", when), ("签名人", signer), ("签名结果", sig["signature"])):
        el.append(_el(name, value))
    certs = etree.SubElement(el, q("证书块"))
    certs.append(_el("证书", sig["public_key"]))
    certs.append(_el("证书引证", sig["key_fingerprint"]))
    el.append(_el("签名算法标识", sig["algorithm"]))
    el.append(_el("摘要算法", algorithm))
    el.append(_el("摘要值", sig["digest"]))
    return el


def write_record_eep(record: Record, dest: Path, *, key: SigningKey, signer: str,
                     created: datetime) -> None:
    """Write the signed and locked EEP of `record` to `dest`."""
    record = Record.objects.select_related("fonds", "rule", "category", "volume").get(pk=record.pk)
    write_eep(dest, key=key, signer=signer, created=created, ident=str(record.record_no),
              content=lambda xf: _write_signed(xf, record, created=created,
                                               unit=record.fonds.unit_name))


def write_volume_eep(volume: Volume, dest: Path, *, key: SigningKey, signer: str,
                     created: datetime) -> None:
    """The EEP of a volume (聚合层次 卷): its 档号, title, year, retention and items' 档号."""
    items = list(volume.records.order_by("item_no", "pk").values_list("archive_no", "record_no"))
    meta = {"archive_no": volume.archive_no, "fonds": volume.fonds.code,
            "category": volume.category.name, "class_code": volume.class_code,
            "fiscal_year": volume.fiscal_year, "retention": volume.retention,
            "title": volume.title, "volume_no": volume.volume_no, "status": volume.status,
            "closed_at": volume.closed_at.isoformat() if volume.closed_at else None,
            "items": [str(no) for _a, no in items]}

    def content(xf: Any) -> None:
        with xf.element(q(SIGNED), {"eep版本": "2009"}):
            _leaf(xf, "封装包类型", "原始型")
            _leaf(xf, "封装包类型描述", ORIGINAL_DESCRIPTION)
            _leaf(xf, "封装包创建时间", created.replace(microsecond=0).isoformat())
            _leaf(xf, "封装包创建单位", volume.fonds.unit_name)
            with xf.element(q("封装内容")), xf.element(q("文件实体块")), \
                    xf.element(q("文件实体")):
                _leaf(xf, "聚合层次", "卷")
                with xf.element(q("来源")):
                    _leaf(xf, "全宗名称", volume.fonds.name)
                    _leaf(xf, "立档单位名称", volume.fonds.unit_name)
                code = etree.Element(q("档号"), {"值": volume.archive_no or ""})
                code.append(_el("全宗号", volume.fonds.code))
                code.append(_el("年度", str(volume.fiscal_year)))
                code.append(_el("保管期限", volume.retention))
                code.append(_el("类别号", volume.class_code))
                xf.write(code)
                with xf.element(q("内容描述")):
                    _leaf(xf, "题名", volume.title)
                    _leaf(xf, "年度", str(volume.fiscal_year))
                    _leaf(xf, "保管期限", volume.retention)
                with xf.element(q("卷内文件")):
                    for archive_no, _no in items:
                        _leaf(xf, "档号", archive_no or "")
                _leaf(xf, "系统元数据", json.dumps(meta, ensure_ascii=False, sort_keys=True),
                      {"格式": "application/json"})

    write_eep(dest, key=key, signer=signer, created=created, ident=str(volume.archive_no),
              content=content)


def write_eep(dest: Path, *, key: SigningKey, signer: str, created: datetime, ident: str,
              content: Callable[[Any], None]) -> None:
    """Write an EEP whose 被签名对象 `content` writes, then sign and lock it."""
    algorithm = "SM3" if key.algorithm == SM2_ALGORITHM else "SHA256"
    when = created.replace(microsecond=0).isoformat()
    body = dest.with_suffix(".part")
    # 1: the signed part, streamed to a scratch file
    with etree.xmlfile(str(body), encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element(q("电子文件封装包"), nsmap={None: NS}):
            _leaf(xf, "封装包格式描述", FORMAT_DESCRIPTION)
            _leaf(xf, "版本", "2009")
            content(xf)
    digest = canonical_digest(body, (SIGNED,), algorithm)
    sig = sign_digest(digest, key=key)
    assert sig is not None
    block = etree.Element(q(SIGNATURE_BLOCK), nsmap={None: NS})
    block.append(_signature_element("电子签名", sig, algorithm=algorithm, when=when,
                                    signer=signer, ident=f"{ident}-S1"))
    # 2: the lock covers 被签名对象 and 电子签名块 together
    hasher = _hasher_named(algorithm)
    _canonical_into(body, (SIGNED,), hasher)
    hasher.update(etree.canonicalize(block).encode("utf-8"))
    lock_sig = sign_digest(hasher.hexdigest(), key=key)
    assert lock_sig is not None
    lock = _signature_element("电子签名", lock_sig, algorithm=algorithm, when=when, signer=signer,
                              ident=f"{ident}-L1")
    lock.tag = q(LOCK)
    # 3: the final file: the scratch file with the two blocks before the root's end tag
    end = b"</" + "电子文件封装包".encode() + b">"
    with open(body, "rb") as src, open(dest, "wb") as out:
        size = body.stat().st_size
        src.seek(max(0, size - len(end) - 4))
        last = src.read()
        src_tail_at = size - len(last) + last.rindex(end)  # where the root's end tag starts
        src.seek(0)
        copied = 0
        while copied < src_tail_at:
            chunk = src.read(min(1 << 20, src_tail_at - copied))
            out.write(chunk)
            copied += len(chunk)
        for el in (block, lock):
            out.write(etree.tostring(el, encoding="utf-8"))
        out.write(end + b"\n")
    body.unlink()


def _canonical_into(source: Path, names: tuple[str, ...], hasher: Any) -> None:
    target = _SubtreeTarget(names, lambda s: hasher.update(s.encode("utf-8")))
    parser = etree.XMLParser(target=target, huge_tree=True, resolve_entities=False, no_network=True)
    with open(source, "rb") as fh:
        while chunk := fh.read(1 << 20):
            parser.feed(chunk)
    parser.close()


# --- reading and verifying --------------------------------------------------------------------

@dataclass
class EepCheck:
    ok: bool
    problems: list[str]
    public_key: str = ""


def _signature_fields(el: Any) -> dict[str, str]:
    return {"algorithm": el.findtext(q("签名算法标识")) or "",
            "signature": el.findtext(q("签名结果")) or "",
            "public_key": el.findtext(f"{q('证书块')}/{q('证书')}") or "",
            "digest": el.findtext(q("摘要值")) or "",
            "hash": el.findtext(q("摘要算法")) or ""}


def _tail_blocks(path: Path) -> tuple[Any, Any]:
    """The 电子签名块 and 锁定签名 elements (small), parsed with iterparse, dropping the rest."""
    block = lock = None
    for _event, el in etree.iterparse(str(path), events=("end",), huge_tree=True,
                                      resolve_entities=False, no_network=True):
        if el.tag == q(SIGNATURE_BLOCK):
            block = el
        elif el.tag == q(LOCK):
            lock = el
        elif el.tag == q("编码数据"):
            el.clear()  # the file bytes: already counted by the digest pass
    return block, lock


def verify_eep(path: Path, *, trusted_keys: set[str] | None = None) -> EepCheck:
    """Whether the EEP at `path` is well formed, its 电子签名 verifies over the C14N form of
    被签名对象, its 锁定签名 over that and 电子签名块, and every 编码数据 decodes to bytes with
    the SHA256 and SM3 given beside them. `trusted_keys`: the public keys accepted (else any key
    the package carries)."""
    try:
        return _verify_eep(path, trusted_keys)
    except (etree.XMLSyntaxError, ValueError) as exc:  # ValueError: bad base64 or hex
        return EepCheck(False, [f"unreadable: {exc}"])


def _verify_eep(path: Path, trusted_keys: set[str] | None) -> EepCheck:
    problems: list[str] = []
    try:
        block, lock = _tail_blocks(path)
    except etree.XMLSyntaxError as exc:
        return EepCheck(False, [f"not well-formed XML: {exc}"])
    if block is None or lock is None or block.find(q("电子签名")) is None:
        return EepCheck(False, ["电子签名块 or 锁定签名 missing"])
    sig = _signature_fields(block.find(q("电子签名")))
    lsig = _signature_fields(lock)
    algorithm = sig["hash"] if sig["hash"] in ("SM3", "SHA256") else "SHA256"
    digest = canonical_digest(path, (SIGNED,), algorithm)
    if not verify_digest(digest, {**sig, "digest": digest}):
        problems.append("电子签名 does not verify over 被签名对象")
    hasher = _hasher_named(algorithm)
    _canonical_into(path, (SIGNED,), hasher)
    hasher.update(etree.canonicalize(block).encode("utf-8"))
    lock_digest = hasher.hexdigest()
    if not verify_digest(lock_digest, {**lsig, "digest": lock_digest}):
        problems.append("锁定签名 does not verify")
    if trusted_keys is not None and (sig["public_key"] not in trusted_keys
                                     or lsig["public_key"] not in trusted_keys):
        problems.append("signed with a key that is not trusted")
    problems.extend(_check_documents(path))
    return EepCheck(not problems, problems, sig["public_key"])


def _check_documents(path: Path) -> list[str]:
    return [f"编码数据 of {d.name} does not match its digests" for d in stream_documents(path)
            if not d.intact]


@dataclass
class Document:
    """A 文档 of an EEP: the name and digests it states, the digests of its decoded bytes, and
    the bytes themselves in `sink` when one was asked for."""
    name: str = ""
    sha256: str = ""
    sm3: str = ""
    size: int = 0
    got_sha256: str = ""
    got_sm3: str = ""
    sink: IO[bytes] | None = None

    @property
    def intact(self) -> bool:
        return (self.got_sha256, self.got_sm3) == (self.sha256, self.sm3)


class _DocumentsTarget:
    """A parser target decoding each 编码数据 as its text streams past (base64 in pieces of a
    multiple of 4 characters), hashing the bytes and writing them to a sink if asked."""

    _FIELDS = {q("计算机文件名"): "name", q("SHA256"): "sha256", q("SM3"): "sm3"}

    def __init__(self, open_sink: Callable[[], IO[bytes]] | None) -> None:
        self.open_sink = open_sink
        self.docs: list[Document] = []
        self.doc: Document | None = None
        self.field = ""
        self.text: list[str] = []
        self.in_data = False
        self.rest = ""
        self.hashers: tuple[Any, Any] | None = None

    def start(self, tag: str, attrib: dict[str, str], nsmap: Any = None) -> None:
        if tag == q("编码"):
            self.doc = Document(sink=self.open_sink() if self.open_sink else None)
            self.hashers = (hashlib.sha256(), new_sm3())
        elif self.doc is not None and tag in self._FIELDS:
            self.field, self.text = self._FIELDS[tag], []
        elif self.doc is not None and tag == q("编码数据"):
            self.in_data, self.rest = True, ""

    def data(self, text: str) -> None:
        if self.in_data:
            chunk = self.rest + "".join(text.split())
            cut = len(chunk) - len(chunk) % 4
            self.rest = chunk[cut:]
            if cut:
                self._bytes(base64.b64decode(chunk[:cut], validate=True))
        elif self.field:
            self.text.append(text)

    def _bytes(self, raw: bytes) -> None:
        assert self.doc is not None and self.hashers is not None
        for h in self.hashers:
            h.update(raw)
        self.doc.size += len(raw)
        if self.doc.sink is not None:
            self.doc.sink.write(raw)

    def end(self, tag: str) -> None:
        if self.field and tag in self._FIELDS:
            setattr(self.doc, self.field, "".join(self.text).strip())
            self.field = ""
        elif tag == q("编码数据") and self.in_data:
            if self.rest:
                self._bytes(base64.b64decode(self.rest + "=" * (-len(self.rest) % 4)))
            self.in_data = False
        elif tag == q("编码") and self.doc is not None and self.hashers is not None:
            self.doc.got_sha256, self.doc.got_sm3 = (h.hexdigest() for h in self.hashers)
            self.docs.append(self.doc)
            self.doc = None

    def close(self) -> list[Document]:
        return self.docs


def stream_documents(path: Path, open_sink: Callable[[], IO[bytes]] | None = None
                     ) -> list[Document]:
    """Each 文档 of the EEP at `path`, its bytes decoded in a streaming pass (into a new
    `open_sink()` each, when given)."""
    target = _DocumentsTarget(open_sink)
    parser = etree.XMLParser(target=target, huge_tree=True, resolve_entities=False,
                             no_network=True)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            parser.feed(chunk)
    return list(parser.close())


def read_system_metadata(path: Path) -> dict[str, Any]:
    for _event, el in etree.iterparse(str(path), events=("end",), tag=q("系统元数据"),
                                      huge_tree=True, resolve_entities=False, no_network=True):
        return dict(json.loads(el.text or "{}"))
    return {}

"""Reading an OFD package (GB/T 33190-2016 §7: a ZIP of XML parts) without trusting it.

An OFD from outside may be a zip bomb, carry `../` or absolute member names, lie about its
sizes, or have names in GBK without the UTF-8 flag. `OFDPackage` checks the central directory
before any data is read (entry count, declared per-entry and total size, compression ratio,
unsafe paths), then counts the bytes it actually decompresses against the same caps. Entries are
read into memory by their normalised path; nothing is ever extracted to disk.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import unquote

from lxml import etree

from kjda.formats.ofd.document import OFDDocument
from kjda.formats.ofd.model import OFDError


@dataclass(frozen=True)
class OFDLimits:
    # Real OFDs are small (invoices ~15–60 KB, scanned documents a few MB); the caps leave
    # room for large scans while a 1 GiB bomb is refused from its central directory alone.
    max_entries: int = 10_000
    max_entry_bytes: int = 256 * 1024 * 1024
    max_total_bytes: int = 512 * 1024 * 1024
    # DEFLATE tops out near 1032:1 (a single-layer bomb sits right there); legitimate XML and
    # spreadsheets stay well under 500:1. Entries under 1 MiB are exempt: a small run of
    # spaces compresses far better than that without harm.
    max_ratio: float = 500.0
    ratio_floor_bytes: int = 1024 * 1024
    max_xml_bytes: int = 64 * 1024 * 1024


DEFAULT_LIMITS = OFDLimits()
_CHUNK = 64 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MiB"


def decode_name(info: zipfile.ZipInfo) -> str:
    """The member name as its writer meant it. Without the UTF-8 flag (bit 11) zipfile decodes
    as CP437; Chinese tools often wrote UTF-8 or GBK bytes there instead."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for enc in ("utf-8", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return info.filename


def normalise_member(name: str) -> str | None:
    """A safe relative posix path for a member name, '' for a directory entry, or None if the
    name is absolute, has a drive letter or climbs out with `..`."""
    name = name.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name) or "\x00" in name:
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    if name.endswith("/"):
        return ""
    return "/".join(parts)


class OFDPackage:
    """The members of one OFD file, read on demand through the safety checks."""

    def __init__(self, zf: zipfile.ZipFile, *, limits: OFDLimits = DEFAULT_LIMITS,
                 owns: BinaryIO | None = None) -> None:
        self._zf = zf
        self._owns = owns
        self.limits = limits
        self._members: dict[str, zipfile.ZipInfo] = {}
        self._lower: dict[str, str] = {}
        self._cache: dict[str, bytes] = {}
        self._read_total = 0
        self._check_directory()

    # --- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, source: str | os.PathLike | BinaryIO | bytes, *,
             limits: OFDLimits = DEFAULT_LIMITS) -> OFDPackage:
        owns = None
        if isinstance(source, bytes | bytearray):
            source = io.BytesIO(source)
        elif isinstance(source, str | os.PathLike):
            owns = source = open(source, "rb")  # noqa: SIM115 - closed by close()
        try:
            source.seek(0)
            zf = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            if owns:
                owns.close()
            raise OFDError("ofd_not_zip", "不是有效的OFD文件（无法作为ZIP读取）",
                           f"not a valid OFD (not a readable ZIP): {exc}") from exc
        try:
            return cls(zf, limits=limits, owns=owns)
        except BaseException:
            zf.close()
            if owns:
                owns.close()
            raise

    def close(self) -> None:
        self._zf.close()
        if self._owns:
            self._owns.close()

    def __enter__(self) -> OFDPackage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_directory(self) -> None:
        """Everything the central directory declares is checked before a byte of data is read."""
        lim = self.limits
        infos = self._zf.infolist()
        if len(infos) > lim.max_entries:
            raise OFDError("ofd_too_many_entries", f"OFD包条目过多（{len(infos)} > {lim.max_entries}）",
                           f"too many entries in the OFD package ({len(infos)} > {lim.max_entries})",
                           detail={"stage": "declared", "entries": len(infos)})
        total = 0
        for info in infos:
            name = decode_name(info)
            path = normalise_member(name)
            if path is None:
                raise OFDError("ofd_unsafe_path", f"OFD包含不安全的路径：{name!r}",
                               f"unsafe path in the OFD package: {name!r}",
                               detail={"stage": "declared", "entry": name})
            if path == "" or info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise OFDError("ofd_encrypted", "OFD包条目已加密", "the OFD package has encrypted entries",
                               detail={"stage": "declared", "entry": path})
            self._check_sizes(path, info.file_size, info.compress_size, stage="declared")
            total += info.file_size
            if total > lim.max_total_bytes:
                raise OFDError("ofd_too_large", f"OFD解压后总大小超过上限 {_mib(lim.max_total_bytes)}",
                               f"OFD uncompressed size exceeds the {_mib(lim.max_total_bytes)} limit",
                               detail={"stage": "declared", "total": total})
            if path in self._members:
                raise OFDError("ofd_duplicate_entry", f"OFD包含重复条目：{path}",
                               f"duplicate entry in the OFD package: {path}",
                               detail={"stage": "declared", "entry": path})
            self._members[path] = info
            self._lower.setdefault(path.lower(), path)

    def _check_sizes(self, path: str, size: int, compressed: int, *, stage: str) -> None:
        lim = self.limits
        if size > lim.max_entry_bytes:
            raise OFDError("ofd_entry_too_large",
                           f"OFD条目 {path} 解压后超过上限 {_mib(lim.max_entry_bytes)}（{size} 字节）",
                           f"OFD entry {path} exceeds the {_mib(lim.max_entry_bytes)} limit ({size} bytes)",
                           detail={"stage": stage, "entry": path, "size": size})
        if size > lim.ratio_floor_bytes and size > lim.max_ratio * max(compressed, 1):
            ratio = size / max(compressed, 1)
            raise OFDError("ofd_compression_ratio",
                           f"OFD条目 {path} 压缩比异常（{ratio:.0f}:1），疑似压缩炸弹",
                           f"OFD entry {path} has a suspicious compression ratio ({ratio:.0f}:1): "
                           "possible zip bomb",
                           detail={"stage": stage, "entry": path, "ratio": round(ratio)})

    # --- members -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        return list(self._members)

    def find(self, path: str, base: str = "") -> str | None:
        """The member a reference inside the package points at, or None.

        GB/T 33190 §7.5: a path starting with "/" is absolute from the package root, any other is
        relative to the part that holds the reference (`base` is that part's directory). Producers
        get this wrong often enough that we also try the path from the root, URL-unescaped, and
        case-insensitively (WPS writes `DOC_0/Res` for `Doc_0/Res`)."""
        ref = (path or "").strip().replace("\\", "/")
        if not ref:
            return None
        candidates = []
        for r in dict.fromkeys((ref, unquote(ref))):
            if r.startswith("/"):
                candidates.append(r)
            else:
                candidates += [posixpath.join(base, r) if base else r, r]
        for cand in candidates:
            norm = posixpath.normpath("/" + cand.lstrip("/")).lstrip("/")
            if norm in self._members:
                return norm
            hit = self._lower.get(norm.lower())
            if hit:
                return hit
        return None

    def exists(self, path: str, base: str = "") -> bool:
        return self.find(path, base) is not None

    def read(self, path: str, base: str = "") -> bytes:
        member = self.find(path, base)
        if member is None:
            raise OFDError("ofd_missing_entry", f"OFD包中缺少 {path}", f"{path} is missing from the OFD package",
                           detail={"entry": path})
        if member not in self._cache:
            self._cache[member] = self._read_member(member)
        return self._cache[member]

    def _read_member(self, member: str) -> bytes:
        info = self._members[member]
        lim = self.limits
        budget = min(lim.max_entry_bytes, lim.max_total_bytes - self._read_total)
        out = bytearray()
        try:
            with self._zf.open(info) as fh:
                while chunk := fh.read(_CHUNK):
                    out += chunk
                    # Actual bytes, not the declared ones: a member that decompresses past what
                    # it declared (or past the caps) is stopped here.
                    if len(out) > info.file_size or len(out) > budget:
                        raise OFDError("ofd_entry_too_large",
                                       f"OFD条目 {member} 解压后超出声明大小或上限",
                                       f"OFD entry {member} decompresses past its declared size or the limit",
                                       detail={"stage": "actual", "entry": member})
                    if len(out) > lim.ratio_floor_bytes:
                        self._check_sizes(member, len(out), info.compress_size, stage="actual")
        except zipfile.BadZipFile as exc:
            raise OFDError("ofd_corrupt_entry", f"OFD条目 {member} 已损坏", f"OFD entry {member} is corrupt: {exc}",
                           detail={"entry": member}) from exc
        except (OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise OFDError("ofd_corrupt_entry", f"OFD条目 {member} 无法读取",
                           f"OFD entry {member} can't be read: {exc}", detail={"entry": member}) from exc
        self._read_total += len(out)
        return bytes(out)

    def xml(self, path: str, base: str = "") -> etree._Element:
        """The part parsed safely, with namespaces stripped (see `parse_xml`)."""
        member = self.find(path, base)
        if member is None:
            raise OFDError("ofd_missing_entry", f"OFD包中缺少 {path}", f"{path} is missing from the OFD package",
                           detail={"entry": path})
        if self._members[member].file_size > self.limits.max_xml_bytes:
            raise OFDError("ofd_entry_too_large", f"XML部件 {member} 过大", f"XML part {member} is too large",
                           detail={"entry": member})
        return parse_xml(self.read(member), name=member)

    def iter_members(self) -> Iterator[tuple[str, zipfile.ZipInfo]]:
        yield from self._members.items()

    def size_of(self, path: str) -> int | None:
        member = self.find(path)
        return self._members[member].file_size if member else None

    # --- documents ---------------------------------------------------------------------------

    def root(self) -> etree._Element:
        if self.find("OFD.xml") is None:
            raise OFDError("ofd_no_entry_file", "缺少OFD.xml主入口文件，不是OFD文件",
                           "OFD.xml (the package entry file) is missing: not an OFD")
        return self.xml("OFD.xml")

    def documents(self) -> list[OFDDocument]:
        root = self.root()
        if root.tag.lower() != "ofd":
            raise OFDError("ofd_bad_entry_file", "OFD.xml 根元素不是 ofd:OFD",
                           "OFD.xml's root element is not ofd:OFD")
        bodies = [b for b in root if b.tag == "DocBody"]
        if not bodies:
            raise OFDError("ofd_no_document", "OFD.xml 中没有文档（DocBody）",
                           "OFD.xml declares no document (DocBody)")
        return [OFDDocument(self, body, index=i) for i, body in enumerate(bodies)]


# --- XML ------------------------------------------------------------------------------------------

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True, remove_pis=True)
_RECOVER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           remove_comments=True, remove_pis=True, recover=True)
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
# A prefix bound to nothing (`<:eInvoice xmlns:="">`, seen in real invoice CustomTag.xml).
_EMPTY_PREFIX = re.compile(rb"<(/?):(?=[A-Za-z_])|\sxmlns:=\"[^\"]*\"")


def parse_xml(data: bytes, *, name: str = "") -> etree._Element:
    """Parse one OFD part: no DTDs or entities (refused outright: OFD never needs them), no network.

    Namespaces are dropped from tags and attributes, because producers disagree about them:
    `http://www.ofdspec.org/2016`, the legacy `http://www.ofdspec.org`, other case, elements
    with no namespace at all, or prefixes never declared. The OFD vocabulary is unambiguous by
    local name, so matching on it is what keeps all of these readable."""
    if _DOCTYPE.search(data[:4096]) or _DOCTYPE.search(data):
        raise OFDError("ofd_xml_doctype", f"XML部件 {name} 含DTD/实体声明，已拒绝",
                       f"XML part {name} declares a DTD or entities: refused", detail={"entry": name})
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        fixed = _EMPTY_PREFIX.sub(lambda m: b"<" + m.group(1) if m.group(0).startswith(b"<") else b"", data)
        try:
            root = etree.fromstring(fixed, _RECOVER)
        except etree.XMLSyntaxError as exc:
            raise OFDError("ofd_bad_xml", f"XML部件 {name} 无法解析", f"XML part {name} is not well-formed: {exc}",
                           detail={"entry": name}) from exc
    if root is None:
        raise OFDError("ofd_bad_xml", f"XML部件 {name} 为空", f"XML part {name} is empty", detail={"entry": name})
    _strip_namespaces(root)
    return root


def _strip_namespaces(root: etree._Element) -> None:
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag
        if "}" in tag:
            tag = tag.split("}", 1)[1]
        if ":" in tag:  # undeclared prefix kept verbatim by the recovering parser
            tag = tag.split(":", 1)[1]
        el.tag = tag
        for key in list(el.attrib):
            if "}" in key:
                el.attrib[key.split("}", 1)[1]] = el.attrib.pop(key)
    etree.cleanup_namespaces(root)

"""Active content in received files (DA/T 70 安全性, check GD-4-2.1): what can run, launch,
fetch or carry a program when the file is opened: PDF JavaScript, launch / import / submit
actions, actions on open, links to local files, XFA scripts, embedded executables; OFD actions
that play media or open non-web addresses, and executable attachments.

An e-invoice's embedded XML (or an OFD's XML attachment) is normal and never flagged; other
embedded files are only noted. The walk is bounded (objects visited, time): a hostile file
can't make it expensive, and a walk cut short says so.

Each finding: {"kind": …, "severity": "high" | "note", "detail": "中文 / English"}.
"""

from __future__ import annotations

import posixpath
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pikepdf

    from kjda.formats.ofd import OFDPackage

MAX_NODES = 200_000  # PDF dictionaries/arrays visited
MAX_SECONDS = 0.5
MAX_PEEK_BYTES = 8 * 1024 * 1024  # an embedded stream larger than this is judged by name only
MAX_XFA_BYTES = 4 * 1024 * 1024

# Action types that run code, start programs or move data in or out of the reader.
_PDF_RISKY_ACTIONS = {
    "JavaScript": ("javascript", "JavaScript 脚本", "JavaScript"),
    "Launch": ("launch", "启动外部程序（Launch）", "launches an external program (Launch)"),
    "ImportData": ("import_data", "导入外部数据（ImportData）", "imports external data (ImportData)"),
    "SubmitForm": ("submit_form", "向外部地址提交表单（SubmitForm）",
                   "submits form data to an outside address (SubmitForm)"),
    "GoToR": ("remote_goto", "打开另一个文件（GoToR）", "opens another file (GoToR)"),
    "Rendition": ("rendition", "媒体再现动作（Rendition）", "media rendition action"),
}
_EXEC_EXTENSIONS = {
    ".exe", ".dll", ".com", ".scr", ".pif", ".cpl", ".msi", ".msp", ".bat", ".cmd", ".ps1", ".psm1",
    ".vbs", ".vbe", ".js", ".jse", ".mjs", ".wsf", ".wsh", ".hta", ".jar", ".class", ".sh", ".bash",
    ".lnk", ".reg", ".app", ".apk", ".elf", ".so", ".dylib", ".py", ".pl", ".rb", ".php", ".docm",
    ".xlsm", ".pptm", ".dotm", ".xlam", ".swf", ".iso", ".img", ".vhd", ".chm", ".inf", ".url",
}
_EXEC_MIMES = ("application/x-msdownload", "application/x-dosexec", "application/x-executable",
               "application/x-sh", "application/javascript", "text/javascript",
               "application/x-javascript", "application/java-archive", "application/vnd.microsoft.portable-executable",
               "application/x-msdos-program", "application/hta", "application/x-bat")
_EXEC_MAGIC = (b"MZ", b"\x7fELF", b"#!", b"\xca\xfe\xba\xbe", b"\xfe\xed\xfa", b"\xcf\xfa\xed\xfe",
               b"\xce\xfa\xed\xfe")
_DESCEND = frozenset({
    "/A", "/AA", "/Next", "/OpenAction", "/Annots", "/Fields", "/Kids", "/FS", "/EF", "/Names",
    "/JavaScript", "/EmbeddedFiles", "/AF", "/AcroForm", "/Outlines", "/First",
    # the events of an additional-actions (AA) dictionary
    "/O", "/C", "/K", "/F", "/V", "/Fo", "/Bl", "/D", "/U", "/E", "/X", "/PO", "/PC", "/PV",
    "/PI", "/WC", "/WS", "/DS", "/WP", "/DP",
})
_LOOK_AT = frozenset({"/S", "/JS", "/EF"})  # the keys of the dictionaries `look` judges
_BENIGN_DATA_EXTENSIONS = {".xml", ".xbrl", ".ofd", ".pdf", ".json", ".txt", ".csv", ".png",
                           ".jpg", ".jpeg", ".tif", ".tiff"}


def _finding(kind: str, zh: str, en: str, *, severity: str = "high") -> dict:
    return {"kind": kind, "severity": severity, "detail": f"{zh} / {en}"}


def embedded_is_executable(name: str, mime: str = "", head: bytes = b"") -> bool:
    """Whether an embedded file or attachment is a program or script, by name, declared type
    or its first bytes (a renamed .exe is still an MZ file)."""
    ext = posixpath.splitext((name or "").strip().lower().replace("\\", "/"))[1]
    if ext in _EXEC_EXTENSIONS:
        return True
    if (mime or "").strip().lower().replace("#2f", "/") in _EXEC_MIMES:
        return True
    return head.startswith(_EXEC_MAGIC)


def _uri_is_local(uri: str) -> bool:
    """A link that opens something on the reader's machine or runs script, not a web page."""
    scheme = uri.strip().lower().split(":", 1)[0] if ":" in uri else ""
    return scheme not in ("http", "https", "mailto", "")


# --- PDF ------------------------------------------------------------------------------------------

def pdf_active_content(pdf: pikepdf.Pdf) -> list[dict]:
    """Findings in an open PDF. Walks every indirect object once and the direct objects inside
    them (actions are often direct dictionaries inside an annotation), within the caps."""
    import pikepdf
    from pikepdf import Array, Dictionary, Name, Stream

    found: dict[tuple, dict] = {}
    deadline = time.monotonic() + MAX_SECONDS
    visited = 0

    def add(key: tuple, finding: dict) -> None:
        found.setdefault(key, finding)

    root = pdf.Root
    names = root.get("/Names")
    if isinstance(names, Dictionary) and "/JavaScript" in names:
        add(("js_tree",), _finding("javascript", "文档级 JavaScript（名称字典 JavaScript）",
                                   "document-level JavaScript (JavaScript name tree)"))
    open_action = root.get("/OpenAction")
    if isinstance(open_action, Dictionary):
        kind = str(open_action.get("/S", "")).lstrip("/")
        if kind in _PDF_RISKY_ACTIONS:
            _, zh, en = _PDF_RISKY_ACTIONS[kind]
            add(("open", kind), _finding("open_action", f"打开文档时自动执行：{zh}",
                                         f"runs when the document opens: {en}"))

    def look(d: Any) -> None:
        """One dictionary: the action, file specification or annotation it is."""
        kind = d.get("/S")
        if isinstance(kind, Name):
            k = str(kind).lstrip("/")
            if k in _PDF_RISKY_ACTIONS:
                code, zh, en = _PDF_RISKY_ACTIONS[k]
                add(("action", k), _finding(code, f"含动作：{zh}", f"has an action: {en}"))
            elif k == "URI" and _uri_is_local(str(d.get("/URI", ""))):
                add(("uri_local",), _finding("local_uri", "链接指向本地文件或非网页地址（URI）",
                                             "a link to a local file or a non-web address (URI)"))
        if "/JS" in d and ("action", "JavaScript") not in found:
            add(("action", "JavaScript"), _finding("javascript", "含 JavaScript 脚本", "has JavaScript"))
        if "/EF" in d and isinstance(d.get("/EF"), Dictionary):
            _embedded(d)

    def _embedded(spec: Any) -> None:
        name = str(spec.get("/UF", spec.get("/F", "")))
        ef = spec.EF
        stream = ef.get("/F", ef.get("/UF"))
        mime, head = "", b""
        if isinstance(stream, Stream):
            mime = str(stream.get("/Subtype", "")).lstrip("/")
            head = _stream_head(stream)
        key = ("embedded", name, spec.objgen if spec.is_indirect else id(spec))
        if embedded_is_executable(name, mime, head):
            add(key, _finding("embedded_executable", f"嵌入可执行文件或脚本：{name or '?'}",
                              f"embedded executable or script: {name or '?'}"))
        elif posixpath.splitext(name.lower())[1] not in _BENIGN_DATA_EXTENSIONS:
            add(key, _finding("embedded_file", f"嵌入文件：{name or '?'}", f"embedded file: {name or '?'}",
                              severity="note"))

    def walk(obj: Any, depth: int) -> None:
        nonlocal visited
        stack = [(obj, depth)]
        while stack:
            o, level = stack.pop()
            visited += 1
            if visited > MAX_NODES:
                raise _Cut
            if isinstance(o, Stream):
                if _LOOK_AT & o.stream_dict.keys():
                    look(o.stream_dict)
                continue  # a stream's dictionary holds no further actions worth walking
            if isinstance(o, Dictionary):
                keys = o.keys()  # one call; reading values through pikepdf is what costs
                if _LOOK_AT & keys:
                    look(o)
                # only the keys under which actions and file specifications sit directly:
                # reading values through pikepdf is the cost (indirect ones are walked anyway)
                children = [o[k] for k in keys & _DESCEND]
            elif isinstance(o, Array):
                children = list(o)
            else:
                continue
            if level > 32:
                continue
            for child in children:
                # indirect objects are visited on their own, once
                if isinstance(child, (Dictionary, Array)) and not child.is_indirect:
                    stack.append((child, level + 1))

    try:
        for i, obj in enumerate(pdf.objects):
            if i % 256 == 0 and time.monotonic() > deadline:
                raise _Cut
            if isinstance(obj, (Dictionary, Array, Stream)):
                walk(obj, 0)
        # trailer-level direct objects (the catalog is indirect, but be sure)
        walk(root, 0)
    except _Cut:
        add(("cut",), _finding("scan_incomplete", "对象过多或耗时过长，活动内容检查未完成",
                               "too many objects or too slow: the active-content scan stopped early",
                               severity="note"))
    except (pikepdf.PdfError, AttributeError, KeyError, TypeError, ValueError, RecursionError):
        add(("broken",), _finding("scan_incomplete", "结构异常，活动内容检查未完成",
                                  "malformed structure: the active-content scan is incomplete",
                                  severity="note"))
    _xfa(pdf, add)
    return list(found.values())


class _Cut(Exception):
    pass


def _stream_head(stream: pikepdf.Stream, limit: int = 16) -> bytes:
    """The first `limit` decoded bytes of a stream, decoding no more than that: a small stream
    may inflate to gigabytes. Unfiltered or Flate-encoded only (what embedded files and XFA
    packets use); anything else gives b""."""
    import zlib

    import pikepdf

    try:
        if int(stream.get("/Length", 0)) > MAX_PEEK_BYTES:
            return b""
        filters = stream.get("/Filter")
        names = [str(f) for f in filters] if isinstance(filters, pikepdf.Array) else \
            ([str(filters)] if filters is not None else [])
        raw = stream.read_raw_bytes()
        if not names:
            return raw[:limit]
        if names == ["/FlateDecode"] and "/DecodeParms" not in stream:
            return zlib.decompressobj().decompress(raw, limit)
    except (pikepdf.PdfError, ValueError, TypeError, zlib.error):
        pass
    return b""


def _xfa(pdf: pikepdf.Pdf, add) -> None:
    from pikepdf import Array, Dictionary, Stream

    form = pdf.Root.get("/AcroForm")
    if not isinstance(form, Dictionary) or "/XFA" not in form:
        return
    xfa = form.XFA
    streams = [x for x in xfa if isinstance(x, Stream)] if isinstance(xfa, Array) else [xfa]
    budget = MAX_XFA_BYTES
    for s in streams:
        if not isinstance(s, Stream):
            continue
        data = _stream_head(s, budget)
        budget -= len(data)
        if b"<script" in data.lower():
            add(("xfa_script",), _finding("xfa_script", "XFA 表单含脚本", "XFA form with scripts"))
            return
        if budget <= 0:
            break
    add(("xfa",), _finding("xfa", "含 XFA 表单", "has an XFA form", severity="note"))


# --- OFD ------------------------------------------------------------------------------------------

# GB/T 33190 §14 actions: Goto (within the document), URI, GotoA (open an attachment), Sound,
# Movie. A Goto is navigation; the others leave the page.
_OFD_MAX_PARTS = 2_000


def ofd_active_content(pkg: OFDPackage, docs: list) -> list[dict]:
    """Findings in an open OFD package: actions in its XML parts and executable attachments."""
    from kjda.formats.ofd import OFDError
    from kjda.formats.ofd.package import parse_xml

    found: dict[tuple, dict] = {}
    deadline = time.monotonic() + MAX_SECONDS
    xml_parts = [n for n in pkg.names() if n.lower().endswith(".xml")][:_OFD_MAX_PARTS]
    for name in xml_parts:
        if time.monotonic() > deadline:
            found[("cut",)] = _finding("scan_incomplete", "耗时过长，活动内容检查未完成",
                                       "too slow: the active-content scan stopped early", severity="note")
            break
        try:
            data = pkg.read(name)
        except OFDError:
            continue
        if b"Action" not in data and b"script" not in data.lower():
            continue  # the common case: no parse needed
        try:
            root = parse_xml(data, name=name)
        except OFDError:
            continue
        for action in root.iter("Action"):
            event = action.get("Event", "")
            on_open = event in ("DO", "PO")
            for child in action:
                kind = child.tag if isinstance(child.tag, str) else ""
                if kind == "URI":
                    uri = child.get("URI", "") or ""
                    if _uri_is_local(uri):
                        found[("uri_local",)] = _finding(
                            "local_uri", "动作打开本地文件或非网页地址（URI）",
                            "an action opens a local file or a non-web address (URI)")
                    elif on_open:
                        found[("uri_open",)] = _finding(
                            "open_action", "打开文档时自动访问外部地址（URI）",
                            "opens an outside address when the document opens (URI)")
                elif kind in ("Sound", "Movie"):
                    found[("media", kind)] = _finding(
                        "media_action", f"动作播放多媒体（{kind}）", f"an action plays media ({kind})")
                elif kind == "GotoA":
                    found[("gotoa", on_open)] = _finding(
                        "attachment_action", "动作打开附件（GotoA）" + ("，且在打开文档时执行" if on_open else ""),
                        "an action opens an attachment (GotoA)" + (" when the document opens" if on_open else ""),
                        severity="high" if on_open else "note")
        if b"<script" in data.lower():
            found[("script", name)] = _finding("script", f"XML 部件含脚本：{name}",
                                               f"an XML part carries a script: {name}")
    for doc in docs:
        try:
            attachments = doc.attachments()
        except OFDError:
            continue
        for a in attachments:
            label = a.filename or a.name
            if embedded_is_executable(label, a.format, (a.data or b"")[:16]) \
                    or (a.format or "").strip().lower().lstrip(".") in {e.lstrip(".") for e in _EXEC_EXTENSIONS}:
                found[("att", label)] = _finding(
                    "embedded_executable", f"附件为可执行文件或脚本：{label}",
                    f"an attachment is an executable or script: {label}")
    return list(found.values())


def risky(findings: list[dict] | None) -> list[dict]:
    return [f for f in findings or [] if f.get("severity") == "high"]

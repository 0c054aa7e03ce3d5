"""PDF/A checker: the level a PDF claims and the clauses of ISO 19005-1/-2/-3 it breaks.

Separate from the writer (`kjda.formats.pdfa`), so our own renditions are checked by code that
did not make them. `pdfa_check(data)` reads the claim from the XMP PDF/A identification schema
(namespace http://www.aiim.org/pdfa/ns/id/) and checks the file against that part's clauses:

  file header (6.1.2), trailer ID / Encrypt / data after %%EOF (6.1.3), permissions (6.1.12, parts
  2-3), output intent (1: 6.2.2, 2-3: 6.2.3) and device colour without one (6.2.3.3 / 6.2.4.3),
  embedded font programs (6.3.4 / 6.2.11.4.1), Type 1 CharSet and CID CIDSet of subsets (6.3.5,
  part 1), embedded files (6.1.11 / 6.8, with AF and AFRelationship for part 3), annotations
  (6.5 / 6.3), forbidden actions and JavaScript (6.6.1 / 6.5.1), additional actions (6.6.2 /
  6.5.2), interactive forms (6.9 / 6.4), the metadata stream and the identification itself
  (6.7.2, 6.7.11 / 6.6.2.1, 6.6.4).

Level B is what it checks; the extra requirements of levels A and U (logical structure, Unicode
maps) and the clauses that need content-stream or font-program parsing beyond colour operators
(glyph widths, .notdef, transparency, string limits) are not checked. A file that claims nothing
is checked as PDF/A-2B (the level our renditions use) unless its metadata shows which part it
was meant to claim. Costs ~1-3 ms on a 100 KB PDF: dictionaries are walked once, content streams
are only scanned (bounded) for device colour operators.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pikepdf
from pikepdf import Array, Dictionary, Name

from kjda.formats.pdfa import font_embedded, resource_dicts
from kjda.formats.pdfa_claim import NS_PDFAID, read_claim
from kjda.formats.pdfa_objects import (
    action_chain,
    af_objgens,
    device_colours,
    file_specs,
    font_dicts,
    icc_problem,
    is_pdfa_1_or_2,
    outline_actions,
)

DEFAULT_FLAVOUR = "2B"

# The clause of each requirement in each part (ISO 19005-1:2005, -2:2011, -3:2012).
_CLAUSE = {
    "header": ("6.1.2", "6.1.2", "6.1.2"),
    "trailer": ("6.1.3", "6.1.3", "6.1.3"),
    "perms": (None, "6.1.12", "6.1.12"),
    "output_intent": ("6.2.2", "6.2.3", "6.2.3"),
    "device_colour": ("6.2.3.3", "6.2.4.3", "6.2.4.3"),
    "font_embedded": ("6.3.4", "6.2.11.4.1", "6.2.11.4.1"),
    "font_subset": ("6.3.5", None, None),
    "embedded_files": ("6.1.11", "6.8", "6.8"),
    "annot_type": ("6.5.2", "6.3.1", "6.3.1"),
    "annot_flags": ("6.5.3", "6.3.2", "6.3.2"),
    "actions": ("6.6.1", "6.5.1", "6.5.1"),
    "trigger": ("6.6.2", "6.5.2", "6.5.2"),
    "forms": ("6.9", "6.4.1", "6.4.1"),
    "xfa": (None, "6.4.2", "6.4.2"),
    "metadata": ("6.7.2", "6.6.2.1", "6.6.2.1"),
    "identification": ("6.7.11", "6.6.4", "6.6.4"),
}
_ALLOWED_ACTIONS = ({"GoTo", "GoToR", "Thread", "URI", "Named", "SubmitForm"},
                    {"GoTo", "GoToR", "GoToE", "Thread", "URI", "Named", "SubmitForm"},
                    {"GoTo", "GoToR", "GoToE", "Thread", "URI", "Named", "SubmitForm"})
_NAMED_ACTIONS = {"NextPage", "PrevPage", "FirstPage", "LastPage"}
_FORBIDDEN_ANNOTS = ({"Sound", "Movie", "FileAttachment", "3D", "Screen"},
                     {"Sound", "Movie", "3D", "Screen"}, {"Sound", "Movie", "3D", "Screen"})
_AF_RELATIONSHIPS = {"Source", "Data", "Alternative", "Supplement", "EncryptedPayload",
                     "FormData", "Schema", "Unspecified"}
_SUBSET = re.compile(r"^[A-Z]{6}\+")


@dataclass(frozen=True)
class Violation:
    clause: str
    zh: str
    en: str

    def as_dict(self) -> dict:
        return {"clause": self.clause, "message": f"{self.zh} / {self.en}"}


@dataclass
class PdfAReport:
    claimed: str | None  # "1B", "2B", "3A", … as the XMP says; None when it claims no level
    checked_as: str  # the part and level whose clauses were applied ("2B" for a 2A/2U claim too)
    violations: list[Violation] = field(default_factory=list)

    @property
    def compliant(self) -> bool:
        return self.claimed is not None and not self.violations

    def as_dict(self) -> dict:
        return {"claimed": self.claimed, "checked_as": self.checked_as,
                "compliant": self.compliant,
                "violations": [v.as_dict() for v in self.violations]}


class _Checker:
    def __init__(self, pdf: pikepdf.Pdf, head: bytes, tail: bytes, part: int) -> None:
        self.pdf, self.head, self.tail, self.part = pdf, head, tail, part
        self.out: list[Violation] = []
        self._resources: list[Dictionary] | None = None

    @property
    def resources(self) -> list[Dictionary]:
        """Every resource dictionary, walked once for the colour and the font clauses."""
        if self._resources is None:
            self._resources = list(resource_dicts(self.pdf))
        return self._resources

    def fail(self, key: str, zh: str, en: str) -> None:
        clause = _CLAUSE[key][self.part - 1]
        if clause and Violation(clause, zh, en) not in self.out:
            self.out.append(Violation(clause, zh, en))

    # --- 6.1 file structure --------------------------------------------------------------

    def header(self) -> None:
        if not self.head.startswith(b"%PDF-"):
            self.fail("header", "文件头不在第 0 字节（文件必须以 %PDF- 开头）",
                      "the file header is not at byte 0 (the file must start with %PDF-)")
            return
        pattern = rb"%PDF-\d\.\d" if self.part == 1 else rb"%PDF-1\.[0-7](?:\r\n|\r|\n)"
        if not re.match(pattern, self.head):
            self.fail("header", f"文件头 {self.head[:8].decode('latin-1')!r} 不符合要求",
                      f"file header {self.head[:8].decode('latin-1')!r} is not allowed"
                      + ("" if self.part == 1 else " (PDF/A-2/3: %PDF-1.0 … %PDF-1.7)"))
        m = re.match(rb"%PDF-[^\r\n]*(?:\r\n|\r|\n)%(.{4})", self.head, re.S)
        if not m or any(b <= 127 for b in m.group(1)):
            self.fail("header", "文件头后缺少二进制注释行（% 加 4 个大于 127 的字节）",
                      "the header is not followed by a binary comment (% and four bytes > 127)")

    def trailer(self) -> None:
        ids = self.pdf.trailer.get("/ID")
        if not isinstance(ids, Array) or len(ids) == 0 or not bytes(ids[0]):
            self.fail("trailer", "最后一个文件尾字典中缺少 ID", "the last trailer has no ID")
        if "/Encrypt" in self.pdf.trailer:
            self.fail("trailer", "文件已加密（文件尾含 Encrypt）", "the file is encrypted (Encrypt)")
        end = self.tail.rfind(b"%%EOF")
        if end < 0:
            self.fail("trailer", "缺少文件结束标记 %%EOF", "no %%EOF end-of-file marker")
        elif self.tail[end + 5:] not in (b"", b"\n", b"\r", b"\r\n"):
            self.fail("trailer", "最后的 %%EOF 之后还有数据",
                      "data follows the last %%EOF marker")

    def permissions(self) -> None:
        perms = self.pdf.Root.get("/Perms")
        if isinstance(perms, Dictionary):
            extra = sorted(set(perms.keys()) - {"/UR3", "/DocMDP"})
            if extra:
                self.fail("perms", f"权限字典含 UR3、DocMDP 以外的键：{', '.join(extra)}",
                          f"the permissions dictionary has keys other than UR3 and DocMDP: "
                          f"{', '.join(extra)}")

    # --- 6.2 graphics: output intent and device colour -------------------------------------

    def output_intent(self) -> None:
        declared = self.pdf.Root.get("/OutputIntents")
        intents = [i for i in declared if isinstance(i, Dictionary)] \
            if isinstance(declared, Array) else []
        pdfa = [i for i in intents if i.get("/S") == Name("/GTS_PDFA1")]
        profiles = {i.DestOutputProfile.objgen for i in intents
                    if isinstance(i.get("/DestOutputProfile"), pikepdf.Stream)}
        if len(profiles) > 1:
            self.fail("output_intent", "多个输出意图的 DestOutputProfile 不是同一对象",
                      "output intents carry different DestOutputProfile objects")
        for intent in intents:
            if self.part > 1 and intent.get("/S") == Name("/GTS_PDFX") \
                    and "/DestOutputProfileRef" in intent:
                self.fail("output_intent", "PDF/X 输出意图含 DestOutputProfileRef",
                          "a PDF/X output intent has DestOutputProfileRef")
        colour_space = None
        for intent in pdfa:
            profile = intent.get("/DestOutputProfile")
            if not isinstance(profile, pikepdf.Stream):
                self.fail("output_intent", "PDF/A 输出意图缺少 DestOutputProfile（ICC 配置文件）",
                          "the PDF/A output intent has no DestOutputProfile (ICC profile)")
                continue
            problem, colour_space = icc_problem(profile, self.part)
            if problem:
                self.fail("output_intent", f"输出意图的 ICC 配置文件无效：{problem}",
                          f"the output intent's ICC profile is not valid: {problem}")
        used = device_colours(self.pdf, self.resources)
        needs = {"RGB": "RGB ", "CMYK": "CMYK", "Gray": None}
        missing = sorted(c for c in used
                         if colour_space is None or (needs[c] and needs[c] != colour_space))
        if missing:
            self.fail("device_colour", f"使用设备色彩空间 {', '.join(missing)}，但没有匹配的 "
                      "PDF/A 输出意图", f"device colour ({', '.join(missing)}) is used without a "
                      "matching PDF/A output intent")
            if intents and not pdfa:
                kinds = ", ".join(sorted({str(i.get("/S", "?")) for i in intents}))
                self.fail("output_intent", f"输出意图的 S 为 {kinds}，不是 /GTS_PDFA1",
                          f"the output intent's S is {kinds}, not /GTS_PDFA1")

    # --- fonts ---------------------------------------------------------------------------

    def fonts(self) -> None:
        for font in font_dicts(self.pdf, self.resources):
            name = str(font.get("/BaseFont", "")).lstrip("/")
            if not font_embedded(font):
                self.fail("font_embedded", f"字体未嵌入：{name}", f"font not embedded: {name}")
                continue
            if self.part != 1 or not _SUBSET.match(name):
                continue
            subtype = font.get("/Subtype")
            if subtype in (Name.Type1, Name.MMType1):
                if "/CharSet" not in font.FontDescriptor:
                    self.fail("font_subset", f"Type 1 子集字体 {name} 的字体描述符缺少 CharSet",
                              f"the descriptor of Type 1 subset {name} has no CharSet")
            elif subtype == Name.Type0:
                cid = font.DescendantFonts[0]
                if "/CIDSet" not in cid.FontDescriptor:
                    self.fail("font_subset", f"CID 子集字体 {name} 的字体描述符缺少 CIDSet",
                              f"the descriptor of CID subset {name} has no CIDSet")

    # --- embedded files ------------------------------------------------------------------

    def embedded_files(self) -> None:
        specs = list(file_specs(self.pdf))
        names = self.pdf.Root.get("/Names")
        if self.part == 1:
            if specs or (isinstance(names, Dictionary) and "/EmbeddedFiles" in names):
                self.fail("embedded_files", "PDF/A-1 不允许嵌入文件", "PDF/A-1 allows no embedded files")
            return
        associated = af_objgens(self.pdf)
        for spec in specs:
            label = str(spec.get("/UF", spec.get("/F", "?")))
            ef = spec.get("/EF")
            stream = ef.get("/F", ef.get("/UF")) if isinstance(ef, Dictionary) else None
            if self.part == 2:
                if not is_pdfa_1_or_2(stream):
                    self.fail("embedded_files", f"嵌入文件 {label} 不是 PDF/A-1 或 PDF/A-2 文件",
                              f"embedded file {label} is not a PDF/A-1 or PDF/A-2 file")
                continue
            if "/F" not in spec or "/UF" not in spec:
                self.fail("embedded_files", f"嵌入文件 {label} 的文件规范缺少 F 或 UF",
                          f"the file specification of {label} lacks F or UF")
            relationship = str(spec.get("/AFRelationship", "")).lstrip("/")
            if relationship not in _AF_RELATIONSHIPS:
                self.fail("embedded_files", f"嵌入文件 {label} 缺少有效的 AFRelationship",
                          f"embedded file {label} has no valid AFRelationship")
            if not spec.is_indirect or spec.objgen not in associated:
                self.fail("embedded_files", f"嵌入文件 {label} 未通过 AF 关联到文档或其部分",
                          f"embedded file {label} is not associated through an AF array")
            if isinstance(stream, pikepdf.Stream):
                if "/Subtype" not in stream:
                    self.fail("embedded_files", f"嵌入文件 {label} 未声明 MIME 类型（Subtype）",
                              f"embedded file {label} has no MIME type (Subtype)")
                params = stream.get("/Params")
                if not isinstance(params, Dictionary) or "/ModDate" not in params:
                    self.fail("embedded_files", f"嵌入文件 {label} 缺少修改日期（Params/ModDate）",
                              f"embedded file {label} has no modification date (Params/ModDate)")

    # --- annotations, actions, forms -----------------------------------------------------

    def annotations_and_actions(self) -> None:
        root = self.pdf.Root
        if "/AA" in root:
            self.fail("trigger", "文档目录含附加动作（AA）", "the catalog has additional actions (AA)")
        names = root.get("/Names")
        if isinstance(names, Dictionary) and "/JavaScript" in names:
            self.fail("actions", "文档含 JavaScript（名称字典 JavaScript）",
                      "the document has document-level JavaScript")
        actions: list[pikepdf.Object] = []
        if isinstance(root.get("/OpenAction"), Dictionary):
            actions.append(root.OpenAction)
        for page in self.pdf.pages:
            if "/AA" in page.obj and self.part > 1:
                self.fail("trigger", "页面含附加动作（AA）", "a page has additional actions (AA)")
            actions.extend(self._annotations(page.obj))
        actions.extend(outline_actions(root))
        for action in action_chain(actions):
            kind = str(action.get("/S", "")).lstrip("/")
            if kind not in _ALLOWED_ACTIONS[self.part - 1]:
                self.fail("actions", f"不允许的动作类型：{kind or '?'}", f"action not allowed: {kind or '?'}")
            elif kind == "Named" and str(action.get("/N", "")).lstrip("/") not in _NAMED_ACTIONS:
                self.fail("actions", f"不允许的命名动作：{action.get('/N')}",
                          f"named action not allowed: {action.get('/N')}")
        form = root.get("/AcroForm")
        if isinstance(form, Dictionary):
            if bool(form.get("/NeedAppearances", False)):
                self.fail("forms", "交互表单的 NeedAppearances 为 true",
                          "the interactive form sets NeedAppearances to true")
            if "/XFA" in form:
                self.fail("xfa", "交互表单含 XFA", "the interactive form contains XFA")
            for fld in form.get("/Fields", Array()):
                if isinstance(fld, Dictionary) and "/AA" in fld:
                    self.fail("trigger", "表单域含附加动作（AA）", "a form field has additional actions")

    def _annotations(self, page: pikepdf.Object) -> Iterator[pikepdf.Object]:
        for annot in page.get("/Annots", Array()):
            if not isinstance(annot, Dictionary):
                continue
            subtype = str(annot.get("/Subtype", "")).lstrip("/")
            if subtype in _FORBIDDEN_ANNOTS[self.part - 1]:
                self.fail("annot_type", f"不允许的注释类型：{subtype}", f"annotation type not allowed: {subtype}")
            if subtype != "Popup":
                flags = int(annot.get("/F", 0)) if "/F" in annot else None
                if flags is None or not flags & 4 or flags & (1 | 2 | 32 | 256):
                    self.fail("annot_flags", f"{subtype} 注释未设为可打印或被隐藏（F 标志）",
                              f"a {subtype} annotation is not printable or is hidden (F flags)")
            if "/AA" in annot:
                self.fail("trigger", f"{subtype} 注释含附加动作（AA）",
                          f"a {subtype} annotation has additional actions (AA)")
            if isinstance(annot.get("/A"), Dictionary):
                yield annot.A

    # --- 6.7 / 6.6 metadata --------------------------------------------------------------

    def metadata(self, xmp_state: str) -> None:
        if xmp_state == "missing":
            self.fail("metadata", "文档目录缺少 XMP 元数据流（Metadata）",
                      "the catalog has no XMP metadata stream (Metadata)")
        elif xmp_state == "malformed":
            self.fail("metadata", "XMP 元数据不是格式良好的 XML/RDF",
                      "the XMP metadata is not well-formed XML/RDF")

    def run(self, xmp_state: str) -> list[Violation]:
        checks = [("header", self.header), ("trailer", self.trailer), ("perms", self.permissions),
                  ("output_intent", self.output_intent), ("font_embedded", self.fonts),
                  ("embedded_files", self.embedded_files),
                  ("actions", self.annotations_and_actions)]
        for key, check in checks:
            if key == "perms" and self.part == 1:
                continue
            try:
                check()
            except (AttributeError, KeyError, IndexError, TypeError, ValueError,
                    pikepdf.PdfError) as exc:
                # A malformed structure the clause is about: not compliant, and never a crash.
                self.fail(key, f"结构异常，无法检查：{exc}", f"malformed structure, not checkable: {exc}")
        self.metadata(xmp_state)
        return self.out



def _identification(claim: str | None, hint: str | None, state: str,
                    part: int) -> Violation | None:
    clause = _CLAUSE["identification"][part - 1]
    assert clause is not None  # every part has it
    if claim is None:
        if hint:
            return Violation(clause, "PDF/A 标识（pdfaid:part）缺失或不在命名空间 " + NS_PDFAID,
                             "the PDF/A identification (pdfaid:part) is missing or not in the "
                             "namespace " + NS_PDFAID)
        if state == "ok":
            return Violation(clause, "XMP 中没有 PDF/A 标识模式（pdfaid）",
                             "the XMP has no PDF/A identification schema (pdfaid)")
        return Violation(clause, "没有 PDF/A 标识", "no PDF/A identification")
    levels = "AB" if part == 1 else "ABU"
    if len(claim) != 2 or claim[1] not in levels:
        return Violation(clause, f"pdfaid:conformance 无效（{claim[1:] or '缺失'}）",
                         f"pdfaid:conformance is not valid ({claim[1:] or 'missing'})")
    return None


def pdfa_check_pdf(pdf: pikepdf.Pdf, *, head: bytes, tail: bytes) -> PdfAReport:
    """Check an open PDF; `head` and `tail` are its first and last ~2 KB of bytes."""
    claim, hint, state = read_claim(pdf)
    if claim and claim[0] not in "123":
        return PdfAReport(claim, "", [Violation(
            "—", f"本检查器不检查 PDF/A-{claim[0]}", f"PDF/A-{claim[0]} is not checked here")])
    if claim:
        part = int(claim[0])
        flavour = f"{part}B"  # level B clauses are what is checked, whatever level is claimed
    else:
        part = int(hint) if hint in ("1", "2", "3") else int(DEFAULT_FLAVOUR[0])
        flavour = f"{part}B"
    violations = _Checker(pdf, head, tail, part).run(state)
    ident = _identification(claim, hint, state, part)
    if ident:
        violations.append(ident)
    return PdfAReport(claim, flavour, violations)


def pdfa_check(data: bytes) -> PdfAReport:
    """Check a PDF given as bytes. An encrypted or unreadable file gets the clause it breaks."""
    head, tail = data[:2048], data[-2048:]
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            return pdfa_check_pdf(pdf, head=head, tail=tail)
    except pikepdf.PasswordError:
        return PdfAReport(None, DEFAULT_FLAVOUR, [Violation(
            "6.1.3", "文件已加密，需要密码", "the file is encrypted and needs a password")])
    except pikepdf.PdfError as exc:
        return PdfAReport(None, DEFAULT_FLAVOUR, [Violation(
            "6.1.1", "PDF 无法解析", f"the PDF cannot be parsed: {exc}")])

"""One OFD document (a DocBody of OFD.xml, GB/T 33190 §7.4–7.5): its DocInfo, pages, text,
resources, attachments, custom data, custom tags and the list of its signatures.

Paths are resolved by `OFDPackage.find`, which tolerates the relative/absolute/case mix real
producers write; a part that is referenced but missing is recorded in `problems`, never fatal,
so a damaged OFD still yields what can be read of it.
"""

from __future__ import annotations

import posixpath
from functools import cached_property
from typing import TYPE_CHECKING

from kjda.formats.ofd.model import (  # noqa: F401 - the model's names are part of this module's API
    Attachment,
    DocInfo,
    Font,
    Media,
    OFDError,
    PartReader,
    Resources,
    SignatureRef,
    TextItem,
    el_child,
    el_children,
    el_text,
    floats,
    parse_ofd_date,
    path_dir,
)

if TYPE_CHECKING:
    from lxml import etree


class OFDPage:
    def __init__(self, doc: OFDDocument, *, index: int, page_id: str, ref: str, path: str | None) -> None:
        self.doc = doc
        self.index = index
        self.id = page_id
        self.ref = ref
        self.path = path

    @cached_property
    def root(self) -> etree._Element | None:
        if self.path is None:
            return None
        try:
            return self.doc.package.xml(self.path)
        except OFDError as exc:
            self.doc.problems.append(exc.en)
            return None

    @property
    def box(self) -> tuple[float, float, float, float]:
        """PhysicalBox (x, y, w, h) in millimetres: the page's own Area, else the document's."""
        area = el_child(self.root, "Area")
        box = floats(el_text(el_child(area, "PhysicalBox"))) if area is not None else []
        return tuple(box) if len(box) == 4 else self.doc.page_box  # type: ignore[return-value]

    def templates(self) -> list[tuple[etree._Element, str]]:
        """(template root, ZOrder) for each template the page uses; Background ones first."""
        out = []
        for t in el_children(self.root, "Template"):
            root = self.doc.template(t.get("TemplateID", ""))
            if root is not None:
                out.append((root, t.get("ZOrder") or self.doc.template_zorder.get(t.get("TemplateID", ""), "Background")))
        return sorted(out, key=lambda x: x[1] != "Background")

    @cached_property
    def resources(self) -> Resources:
        """Document resources plus the page's own PageRes."""
        res = self.doc.resources
        own = el_children(self.root, "PageRes")
        if not own or self.path is None:
            return res
        merged = Resources(dict(res.fonts), dict(res.media), dict(res.draw_params),
                           dict(res.composite_units), dict(res.color_spaces))
        for el in own:
            self.doc._load_res(el_text(el), path_dir(self.path), merged)
        return merged

    def text_items(self, *, with_templates: bool = True) -> list[TextItem]:
        roots = [r for r, _ in self.templates()] if with_templates else []
        if self.root is not None:
            roots.append(self.root)
        items: list[TextItem] = []
        for root in roots:
            for obj in root.iter("TextObject"):
                bx = floats(obj.get("Boundary"))
                ox, oy = (bx[0], bx[1]) if len(bx) >= 2 else (0.0, 0.0)
                size = (floats(obj.get("Size")) or [3.5])[0]
                for code in el_children(obj, "TextCode"):
                    if code.text and code.text.strip():
                        x = (floats(code.get("X")) or [0.0])[0]
                        y = (floats(code.get("Y")) or [0.0])[0]
                        items.append(TextItem(obj.get("ID", ""), code.text, ox + x, oy + y, size))
        return items

    def text(self) -> str:
        """The page's text in reading order: lines top to bottom (baselines within half a glyph
        height are one line), left to right within a line."""
        items = sorted(self.text_items(), key=lambda i: (i.y, i.x))
        lines: list[list[TextItem]] = []
        for it in items:
            if lines and abs(lines[-1][0].y - it.y) <= max(lines[-1][0].size, it.size) * 0.5:
                lines[-1].append(it)
            else:
                lines.append([it])
        return "\n".join(" ".join(i.text.strip() for i in sorted(line, key=lambda i: i.x)) for line in lines)

    def object_texts(self) -> dict[str, str]:
        """TextObject ID → its text, for resolving custom-tag ObjectRefs."""
        out: dict[str, str] = {}
        for it in self.text_items():
            out[it.object_id] = out.get(it.object_id, "") + it.text
        return out


class OFDDocument:
    """One DocBody: read lazily, each part at most once."""

    def __init__(self, package: PartReader, body: etree._Element, *, index: int = 0) -> None:
        self.package = package
        self.body = body
        self.index = index
        self.problems: list[str] = []
        root_ref = el_text(el_child(body, "DocRoot"))
        self.path = package.find(root_ref) if root_ref else None
        if self.path is None:
            raise OFDError("ofd_no_document_root", f"找不到文档根节点 {root_ref or '（未声明）'}",
                           f"document root {root_ref or '(not declared)'} not found in the package",
                           detail={"doc_root": root_ref})
        self.dir = path_dir(self.path)
        self.root = package.xml(self.path)

    # --- DocInfo and custom data -------------------------------------------------------------

    @cached_property
    def info(self) -> DocInfo:
        el = el_child(self.body, "DocInfo")
        kw = [el_text(k) for k in el_children(el_child(el, "Keywords"), "Keyword") if el_text(k)]
        return DocInfo(doc_id=el_text(el_child(el, "DocID")), title=el_text(el_child(el, "Title")),
                       author=el_text(el_child(el, "Author")), subject=el_text(el_child(el, "Subject")),
                       abstract=el_text(el_child(el, "Abstract")), creator=el_text(el_child(el, "Creator")),
                       creator_version=el_text(el_child(el, "CreatorVersion")),
                       creation_date_raw=el_text(el_child(el, "CreationDate")),
                       mod_date_raw=el_text(el_child(el, "ModDate")), keywords=kw)

    def custom_data(self) -> dict[str, str]:
        """OFD.xml DocInfo/CustomDatas: Name → value (empty string for empty or self-closing)."""
        out: dict[str, str] = {}
        for cd in el_children(el_child(el_child(self.body, "DocInfo"), "CustomDatas"), "CustomData"):
            name = (cd.get("Name") or "").strip()
            if name:
                out.setdefault(name, el_text(cd))
        return out

    # --- common data, resources, templates ----------------------------------------------------

    @cached_property
    def _common(self) -> etree._Element | None:
        return el_child(self.root, "CommonData")

    @property
    def page_box(self) -> tuple[float, float, float, float]:
        box = floats(el_text(el_child(el_child(self._common, "PageArea"), "PhysicalBox")))
        return tuple(box) if len(box) == 4 else (0.0, 0.0, 210.0, 297.0)  # type: ignore[return-value]

    @cached_property
    def resources(self) -> Resources:
        res = Resources()
        for tag in ("PublicRes", "DocumentRes"):
            for el in el_children(self._common, tag):
                self._load_res(el_text(el), self.dir, res)
        return res

    def _load_res(self, ref: str, base: str, res: Resources) -> None:
        path = self.package.find(ref, base)
        if path is None:
            if ref:
                self.problems.append(f"resource file {ref} is missing")
            return
        try:
            root = self.package.xml(path)
        except OFDError as exc:
            self.problems.append(exc.en)
            return
        # §7.9: Res/@BaseLoc is the directory the resource files are relative to.
        res_base = posixpath.normpath(posixpath.join(path_dir(path), root.get("BaseLoc") or "."))
        if (root.get("BaseLoc") or "").startswith("/"):
            res_base = root.get("BaseLoc").strip("/")
        res_base = "" if res_base == "." else res_base

        def locate(ref: str) -> str | None:
            return self.package.find(ref, res_base) or self.package.find(ref, path_dir(path))

        for font in root.iter("Font"):
            file_ref = el_text(el_child(font, "FontFile"))
            res.fonts[font.get("ID", "")] = Font(
                font.get("ID", ""), font.get("FontName", ""), font.get("FamilyName", ""),
                font.get("Bold") == "true", font.get("Italic") == "true",
                locate(file_ref) if file_ref else None)
        for mm in root.iter("MultiMedia"):
            ref_file = el_text(el_child(mm, "MediaFile"))
            res.media[mm.get("ID", "")] = Media(mm.get("ID", ""), mm.get("Type", ""), mm.get("Format", ""),
                                                ref_file, locate(ref_file) if ref_file else None)
        for dp in root.iter("DrawParam"):
            res.draw_params[dp.get("ID", "")] = dp
        for cu in root.iter("CompositeGraphicUnit"):
            res.composite_units[cu.get("ID", "")] = cu
        for cs in root.iter("ColorSpace"):
            res.color_spaces[cs.get("ID", "")] = cs

    @cached_property
    def _templates(self) -> dict[str, str | None]:
        return {t.get("ID", ""): self.package.find(t.get("BaseLoc", ""), self.dir)
                for t in el_children(self._common, "TemplatePage")}

    @cached_property
    def template_zorder(self) -> dict[str, str]:
        return {t.get("ID", ""): t.get("ZOrder", "Background") for t in el_children(self._common, "TemplatePage")}

    def template(self, template_id: str) -> etree._Element | None:
        path = self._templates.get(template_id)
        if path is None:
            return None
        try:
            return self.package.xml(path)
        except OFDError as exc:
            self.problems.append(exc.en)
            return None

    # --- pages and text ------------------------------------------------------------------------

    @cached_property
    def pages(self) -> list[OFDPage]:
        pages = []
        for i, el in enumerate(el_children(el_child(self.root, "Pages"), "Page")):
            ref = el.get("BaseLoc", "")
            path = self.package.find(ref, self.dir)
            if path is None:
                self.problems.append(f"page {i + 1} ({ref}) is missing")
            pages.append(OFDPage(self, index=i, page_id=el.get("ID", ""), ref=ref, path=path))
        return pages

    def page_texts(self) -> list[str]:
        return [p.text() for p in self.pages]

    def text(self) -> str:
        return "\n\n".join(t for t in self.page_texts() if t)

    def images(self) -> list[Media]:
        """Image resources (MultiMedia Type=Image); `path` None when the file is missing."""
        return [m for m in self.resources.media.values() if m.type.lower() == "image"]

    def image_bytes(self, resource_id: str) -> bytes | None:
        m = self.resources.media.get(resource_id)
        return self.package.read(m.path) if m and m.path else None

    # --- attachments, custom tags, signatures --------------------------------------------------

    def attachments(self) -> list[Attachment]:
        ref = el_text(el_child(self.root, "Attachments"))
        path = self.package.find(ref, self.dir) if ref else None
        if path is None:
            if ref:
                self.problems.append(f"attachment list {ref} is missing")
            return []
        out = []
        for a in self.package.xml(path).iter("Attachment"):
            loc = el_text(el_child(a, "FileLoc"))
            file = self.package.find(loc, path_dir(path)) or self.package.find(loc, self.dir)
            if file is None:
                self.problems.append(f"attachment {a.get('Name', '')} ({loc}) is missing")
            out.append(Attachment(id=a.get("ID", ""), name=a.get("Name", ""), format=a.get("Format", ""),
                                  path=file, data=self.package.read(file) if file else None,
                                  creation_date=a.get("CreationDate", ""), usage=a.get("Usage", ""),
                                  visible=a.get("Visible", "true") != "false"))
        return out

    def custom_tag_refs(self) -> list[dict]:
        """Every element of the custom-tag files that points at page objects: its name, its path in
        the tag file, the page and object ids, and the text of those objects."""
        ref = el_text(el_child(self.root, "CustomTags"))
        path = self.package.find(ref, self.dir) if ref else None
        if path is None:
            return []
        by_page = {p.id: p for p in self.pages}
        cache: dict[str, dict[str, str]] = {}

        def texts(page_id: str) -> dict[str, str]:
            if page_id not in cache:
                page = by_page.get(page_id)
                cache[page_id] = page.object_texts() if page else {}
            return cache[page_id]

        out = []
        for tag in self.package.xml(path).iter("CustomTag"):
            loc = el_text(el_child(tag, "FileLoc"))
            file = self.package.find(loc, path_dir(path))
            if file is None:
                if loc:
                    self.problems.append(f"custom tag file {loc} is missing")
                continue
            try:
                troot = self.package.xml(file)
            except OFDError as exc:
                self.problems.append(exc.en)
                continue
            for el in troot.iter():
                refs = el_children(el, "ObjectRef")
                if not refs:
                    continue
                ids, parts = [], []
                for r in refs:
                    page_id, obj_id = r.get("PageRef", ""), el_text(r)
                    ids.append((page_id, obj_id))
                    found = texts(page_id).get(obj_id)
                    if found is None:  # PageRef wrong or absent: look on every page
                        found = next((t for p in self.pages if (t := texts(p.id).get(obj_id))), None)
                    if found is not None:
                        parts.append(found)
                chain = [a.tag for a in reversed(list(el.iterancestors())) if isinstance(a.tag, str)]
                out.append({"name": el.tag, "path": "/".join([*chain, el.tag]), "type_id": tag.get("TypeID", ""),
                            "refs": ids, "text": "".join(parts)})
        return out

    def custom_tags(self) -> dict[str, list[str]]:
        """Tag name → the page text each occurrence points at (one entry per occurrence, so a
        repeated tag such as an invoice's `Item` keeps every line)."""
        out: dict[str, list[str]] = {}
        for r in self.custom_tag_refs():
            out.setdefault(r["name"], []).append(r["text"])
        return out

    @cached_property
    def _annotations(self) -> dict[str, list[etree._Element]]:
        ref = el_text(el_child(self.root, "Annotations"))
        path = self.package.find(ref, self.dir) if ref else None
        out: dict[str, list[etree._Element]] = {}
        if path is None:
            return out
        try:
            index = self.package.xml(path)
        except OFDError as exc:
            self.problems.append(exc.en)
            return out
        for page in index.iter("Page"):
            loc = el_text(el_child(page, "FileLoc"))
            file = self.package.find(loc, path_dir(path))
            if file is None:
                continue
            try:
                annots = list(self.package.xml(file).iter("Annot"))
            except OFDError as exc:
                self.problems.append(exc.en)
                continue
            out.setdefault(page.get("PageID", ""), []).extend(annots)
        return out

    def annotations(self, page: OFDPage) -> list[etree._Element]:
        """The page's Annot elements (GB/T 33190 §15): watermarks, stamps, links, …"""
        return self._annotations.get(page.id, [])

    def signatures(self) -> list[SignatureRef]:
        """Signatures.xml entries (GB/T 33190 §18.1); verified by `kjda.formats.ofd.signatures`."""
        ref = el_text(el_child(self.body, "Signatures"))
        if not ref:
            return []
        path = self.package.find(ref) or self.package.find(ref, self.dir)
        if path is None:
            self.problems.append(f"signature list {ref} is missing")
            return []
        out = []
        for s in self.package.xml(path).iter("Signature"):
            loc = s.get("BaseLoc", "")
            out.append(SignatureRef(id=s.get("ID", ""), type=s.get("Type", "Seal") or "Seal",
                                    path=self.package.find(loc, path_dir(path)), ref=loc))
        return out

    def summary(self) -> dict:
        """What ingest records in a file's metadata."""
        atts = self.attachments()
        info = self.info
        created = info.creation_date
        return {"title": info.title, "author": info.author, "creator": info.creator,
                "creation_date": created.isoformat() if created else None,
                "pages": len(self.pages), "attachments": len(atts),
                "attachment_names": [a.filename for a in atts],
                "images": len(self.images()), "missing_images": sum(1 for m in self.images() if m.path is None),
                "signatures": len(self.signatures()), "problems": list(dict.fromkeys(self.problems))}

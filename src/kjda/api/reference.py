from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.archives import selectors
from kjda.archives.models import Category, retention_label
from kjda.archives.numbering import category_code
from kjda.archives.services import fonds_update
from kjda.errors import NotFound

from .permissions import require
from .schemas import FondsOut, RetentionRuleOut

router = Router(tags=["reference"])


@router.get("/retention-rules", response=list[RetentionRuleOut], auth=None,
            summary="会计档案保管期限表（schedule=1 附表1，2 附表2）")
def retention_rules(request: HttpRequest, schedule: Literal["1", "2"] = "1"):
    return [
        {"seq": r.seq, "name": r.name, "category": r.category.name,
         "category_code": r.category.default_code, "retention": r.retention,
         "retention_label": retention_label(r.retention), "note": r.note, "aliases": r.aliases}
        for r in selectors.retention_rule_list(schedule=schedule)
    ]


@router.get("/fonds", response=list[FondsOut], summary="全宗")
def fonds_list(request: HttpRequest):
    categories = list(Category.objects.all())
    return [_fonds_out(f, categories) for f in selectors.fonds_list(actor=request.user)]


def _fonds_out(f, categories: list[Category]) -> dict:
    return {"code": f.code, "name": f.name, "unit_name": f.unit_name,
            "arrangement": f.arrangement, "archive_no_with_fonds": f.archive_no_with_fonds,
            "category_codes": {c.name: category_code(fonds=f, category=c) for c in categories}}


class FondsPatch(Schema):
    name: str | None = None
    unit_name: str | None = None
    arrangement: Literal["item", "volume"] | None = None
    archive_no_with_fonds: bool | None = None
    category_codes: dict[str, str] | None = None


@router.patch("/fonds/{code}", response=FondsOut, summary="配置全宗：整理方式、门类代码")
def fonds_patch(request: AuthedRequest, code: str, payload: FondsPatch):
    """Set a fonds' arrangement (by item / by volume), whether archive numbers start with the
    fonds code, and its category codes (e.g. `{"会计凭证": "KJPZ"}`). Numbers already given
    never change; new settings apply to records filed from now on."""
    require(request, Perm.FONDS_CONFIGURE)
    fonds = selectors.fonds_list(actor=request.user).filter(code=code).first()
    if fonds is None:
        raise NotFound("fonds_not_found", f"全宗 {code} 不存在", f"fonds {code} not found")
    fonds = fonds_update(fonds=fonds, **payload.dict(exclude_none=True), actor=request.user,
                         request=request)
    return _fonds_out(fonds, list(Category.objects.all()))

"""OA connectors, their mappings and the intake queue (API layer; rules live in connectors)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.api.permissions import require
from kjda.connectors import selectors
from kjda.connectors.models import Connector
from kjda.connectors.services import (
    connector_create,
    connector_public_settings,
    connector_update_settings,
    intake_retry,
    mapping_create,
)
from kjda.errors import NotFound

router = Router(tags=["connectors"])


class ConnectorIn(Schema):
    kind: str
    name: str
    settings: dict[str, str | int | None] = {}
    fonds: str = ""
    finance_owner_ids: list[str] = []


class ConnectorOut(Schema):
    id: UUID
    kind: str
    name: str
    callback_url: str
    settings: dict[str, str]
    fonds: str
    finance_owner_ids: list[str]
    enabled: bool
    created_at: datetime


class ConnectorPatch(Schema):
    settings: dict[str, str | int | None] = {}


class MappingIn(Schema):
    process_code: str
    scenario: str
    category: str
    fields: dict[str, str] = {}


class MappingOut(Schema):
    id: int
    process_code: str
    scenario: str
    category: str
    fields: dict[str, str]


class IntakeOut(Schema):
    id: int
    connector_id: UUID
    connector_kind: str
    event_id: str
    instance_id: str
    process_code: str
    action: str
    status: str
    attempts: int
    last_error: str
    record_id: int | None
    source: str
    received_at: datetime
    processed_at: datetime | None


class IntakeQuery(Schema):
    status: str | None = None
    connector: UUID | None = None
    limit: int = 50
    offset: int = 0


def _out(c: Connector) -> dict:
    return {"id": c.pk, "kind": c.kind, "name": c.name, "callback_url": f"/oa/{c.pk}/callback",
            "settings": connector_public_settings(c), "fonds": c.fonds_code,
            "finance_owner_ids": c.finance_owner_ids, "enabled": c.enabled,
            "created_at": c.created_at}


def _connector(request: HttpRequest, connector_id: UUID) -> Connector:
    connector = selectors.connector_get(actor=request.user, connector_id=connector_id)
    if connector is None:
        raise NotFound("connector_not_found", "连接器不存在", "connector not found")
    return connector


@router.post("/connectors", response={201: ConnectorOut}, summary="Create an OA connector")
def connectors_create(request: AuthedRequest, payload: ConnectorIn):
    """`settings` use the vendor's own credential names (see the README); secrets are stored
    encrypted and never returned. The answer carries the callback URL to give the platform."""
    require(request, Perm.CONNECTOR_MANAGE)
    connector = connector_create(kind=payload.kind, name=payload.name,
                                 settings={k: v for k, v in payload.settings.items()
                                           if v is not None},
                                 fonds_code=payload.fonds,
                                 finance_owner_ids=payload.finance_owner_ids,
                                 actor=request.user, request=request)
    return Status(201, _out(connector))


@router.get("/connectors", response=list[ConnectorOut], summary="List OA connectors")
def connectors_list(request: HttpRequest):
    require(request, Perm.CONNECTOR_MANAGE)
    return [_out(c) for c in selectors.connector_list(actor=request.user)]


@router.get("/connectors/{connector_id}", response=ConnectorOut)
def connectors_get(request: HttpRequest, connector_id: UUID):
    require(request, Perm.CONNECTOR_MANAGE)
    return _out(_connector(request, connector_id))


@router.patch("/connectors/{connector_id}", response=ConnectorOut,
              summary="Change some settings of an OA connector")
def connectors_update(request: AuthedRequest, connector_id: UUID, payload: ConnectorPatch):
    """Secrets given replace the stored ones; settings not given stay. Platform addresses
    (`api_base_url`, `oapi_base_url`, Weaver's `base_url`, the webhook's `notify_url`) only
    the system administrator may change; each change is audited with the old and new value."""
    require(request, Perm.CONNECTOR_MANAGE)
    connector = connector_update_settings(connector=_connector(request, connector_id),
                                          settings=dict(payload.settings), actor=request.user,
                                          request=request)
    return _out(connector)


@router.post("/connectors/{connector_id}/mappings", response={201: MappingOut},
             summary="Map an approval template to a scenario and an archive category")
def mappings_create(request: AuthedRequest, connector_id: UUID, payload: MappingIn):
    require(request, Perm.CONNECTOR_MANAGE)
    connector = _connector(request, connector_id)
    mapping = mapping_create(connector=connector, process_code=payload.process_code,
                             scenario=payload.scenario, category=payload.category,
                             fields=payload.fields, actor=request.user, request=request)
    return Status(201, {"id": mapping.pk, "process_code": mapping.process_code,
                        "scenario": mapping.scenario, "category": mapping.category,
                        "fields": mapping.fields})


@router.get("/connectors/{connector_id}/mappings", response=list[MappingOut])
def mappings_list(request: HttpRequest, connector_id: UUID):
    require(request, Perm.CONNECTOR_MANAGE)
    connector = _connector(request, connector_id)
    return list(connector.mappings.values("id", "process_code", "scenario", "category",
                                          "fields"))


@router.get("/intake", response=list[IntakeOut], summary="Received OA events and their status")
def intake_list(request: HttpRequest, query: Query[IntakeQuery]):
    require(request, Perm.CONNECTOR_MANAGE)
    rows = selectors.intake_list(actor=request.user, status=query.status,
                                 connector_id=query.connector)
    limit = max(1, min(query.limit, 200))
    return [{**{f: getattr(e, f) for f in IntakeOut.model_fields if hasattr(e, f)},
             "connector_kind": e.connector.kind}
            for e in rows[query.offset:query.offset + limit]]


@router.post("/intake/{event_pk}/retry", summary="Process a failed or pending event again")
def intake_retry_endpoint(request: AuthedRequest, event_pk: int):
    require(request, Perm.CONNECTOR_MANAGE)
    event = selectors.intake_get(actor=request.user, event_pk=event_pk)
    if event is None:
        raise NotFound("intake_not_found", "事件不存在", "event not found")
    intake_retry(event=event, actor=request.user, request=request)
    return {"id": event.pk, "status": "received"}

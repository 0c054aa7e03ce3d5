"""The one interface every OA platform implements (DingTalk, WeCom, Feishu, Weaver, webhook).

A connector is constructed from its settings (the vendor's own credential names, see
`settings_spec`) and does five things, exactly as its vendor documents them:

1. `handle_callback`: verify and decrypt an inbound HTTP callback over the exact bytes received,
   answer URL-verification handshakes, and return the approval events it carries. A bad
   signature, wrong owner id, stale timestamp or malformed body raises `CallbackRejected` (4xx).
2. `fetch_instance`: re-fetch the approval instance from the platform's API (never trust the
   event alone): form fields, approval trail, attachments.
3. `download_attachment`: stream one attachment into a binary file object.
4. `notify`: send a work notice or to-do to users in their own OA.
5. `list_finished`: approvals finished in a time window, for the sweep that catches missed
   callbacks.
6. `read_directory` (optional): the platform's departments and people, for the directory sync
   (`kjda.connectors.directory`); platforms without a directory leave it out.
7. `approval_create` (optional): start an approval instance in the platform on a user's behalf
   (a loan request routed through the OA, `kjda.connectors.approvals`); its result comes back
   through the same callbacks and `fetch_instance`.

Adding a platform means adding one module that subclasses `OAConnector` and registering it in
`kjda.connectors.registry`; nothing else changes.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, ClassVar, Literal

from kjda.errors import DomainError

# The approval data ingest renders and files: defined in a lower layer, re-exported here.
from kjda.ingest.types import (  # noqa: F401
    ApprovalInstance,
    AttachmentRef,
    FormField,
    TrailEntry,
)

# "finished": the instance ended without approval (rejected, withdrawn, terminated). Never
# archived; processed only so that an approval KJDA itself started learns its result.
EventAction = Literal["approved", "revoked", "finished", "ignored"]


def epoch_seconds(stamp: int) -> int | float:
    """Seconds since the epoch of a vendor timestamp given in seconds or in milliseconds: the
    vendors mix both (DingTalk ms, WeCom s, Feishu either), and a number above 10**11 (the year
    5138 in seconds, 1973 in ms) can only be milliseconds."""
    return stamp / 1000 if stamp > 10**11 else stamp


class CallbackRejected(DomainError):
    """The callback failed verification; answered with a 4xx and logged, never processed."""

    status = 401

    def __init__(self, code: str, zh: str, en: str, *, status: int = 401) -> None:
        super().__init__(code, zh, en, status=status)


class ConnectorError(DomainError):
    """The platform's API failed (after retries) or answered with an error code."""

    status = 502


def form_mismatch(label: str, template: str, field_name: str) -> ConnectorError:
    """The approval template has no text field of that label: a configuration error."""
    return ConnectorError("approval_form_mismatch",
                          f"{label}审批模板 {template} 没有文本字段「{field_name}」",
                          f"{label} approval template {template} has no text field "
                          f"'{field_name}'", status=422)


@dataclass(frozen=True)
class CallbackRequest:
    method: str
    path: str
    query: dict[str, str]  # single values, URL-decoded exactly once ('+' kept where the vendor needs it)
    headers: dict[str, str]  # lower-case names
    body: bytes
    remote_addr: str = ""
    raw_query: str = ""  # the query string as received, for vendors that sign it undecoded


@dataclass(frozen=True)
class CallbackReply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"


@dataclass(frozen=True)
class ApprovalEvent:
    """What a callback says happened. `event_id` is the dedupe key for the inbox: the vendor's
    own event id when it has one, else derived from (instance, status, time)."""

    event_id: str
    instance_id: str
    action: EventAction
    process_code: str = ""
    event_type: str = ""
    occurred_at: datetime | None = None
    reason: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    # Weaver Action pushes (and the generic webhook) carry the whole instance in the event.
    instance: ApprovalInstance | None = None


@dataclass(frozen=True)
class CallbackOutcome:
    reply: CallbackReply
    events: list[ApprovalEvent] = field(default_factory=list)
    replay_key: str = ""  # signature/nonce of this delivery: a byte-identical replay is refused


@dataclass(frozen=True)
class DirectoryDepartment:
    external_id: str
    name: str
    parent_id: str = ""


@dataclass(frozen=True)
class DirectoryPerson:
    user_id: str  # what the login provider uses as the account uid
    name: str
    department: str = ""  # name of the main department
    mobile: str = ""
    email: str = ""
    active: bool = True


@dataclass
class Directory:
    """A platform's whole directory. A reader raises on any API error: a partial directory
    must never look like a mass departure."""

    departments: list[DirectoryDepartment] = field(default_factory=list)
    people: dict[str, DirectoryPerson] = field(default_factory=dict)


DIRECTORY_MAX_PAGES = 10_000  # a runaway cursor must end


@dataclass(frozen=True)
class SettingSpec:
    name: str
    secret: bool = False
    required: bool = True
    default: str | None = None
    help: str = ""
    # A URL KJDA sends requests (and the vendor's credentials) to: only the system
    # administrator sets it to anything but its default, and every change is audited.
    destination: bool = False


class OAConnector(abc.ABC):
    kind: ClassVar[str]
    label: ClassVar[str]
    settings_spec: ClassVar[list[SettingSpec]]

    def __init__(self, settings: dict[str, Any], *, connector_id: str = "") -> None:
        self.connector_id = connector_id
        # strings (or None) from the connector's JSON settings
        self.settings: dict[str, Any] = {s.name: settings.get(s.name, s.default)
                                         for s in self.settings_spec}
        missing = [s.name for s in self.settings_spec
                   if s.required and not self.settings.get(s.name)]
        if missing:
            raise DomainError("connector_settings_missing",
                              f"缺少连接器设置：{', '.join(missing)}",
                              f"missing connector settings: {', '.join(missing)}")

    @classmethod
    def secret_names(cls) -> set[str]:
        return {s.name for s in cls.settings_spec if s.secret}

    @abc.abstractmethod
    def handle_callback(self, request: CallbackRequest) -> CallbackOutcome:
        """Verify, decrypt and parse one callback; raise CallbackRejected when it fails."""

    @abc.abstractmethod
    def fetch_instance(self, instance_id: str) -> ApprovalInstance:
        """Re-fetch the approval instance from the platform."""

    @abc.abstractmethod
    def download_attachment(self, instance: ApprovalInstance, ref: AttachmentRef,
                            dest: BinaryIO) -> str:
        """Write the attachment's bytes into `dest`; return its file name."""

    @abc.abstractmethod
    def notify(self, *, user_ids: list[str], title: str, text: str, url: str,
               todo: bool = False, key: str = "") -> str:
        """Send a notice (or a to-do when `todo`) to users; return the platform's message id.
        `key` is an idempotency key where the platform supports one."""

    def list_finished(self, *, since: datetime, until: datetime,
                      process_codes: list[str]) -> list[str]:
        """Instance ids of approvals that finished (approved) in [since, until)."""
        return []

    def read_directory(self) -> Directory:
        """The platform's departments and people (raise on any error, never return part)."""
        raise DomainError("directory_unsupported", f"{self.label} 不提供通讯录同步",
                          f"{self.kind} has no directory to sync")

    @classmethod
    def has_directory(cls) -> bool:
        return cls.read_directory is not OAConnector.read_directory

    def approval_create(self, *, template: str, originator_id: str, title: str,
                        fields: list[tuple[str, str]], url: str, key: str) -> str:
        """Start an approval instance of `template` (the platform's own template id) for
        `originator_id` (the user's id on the platform, as the login provider knows it), its
        form filled by label; return the new instance id. `key` is an idempotency key where
        the platform supports one."""
        raise DomainError("approval_unsupported", f"{self.label} 不支持发起审批",
                          f"{self.kind} cannot start approvals")

    @classmethod
    def has_approval_create(cls) -> bool:
        return cls.approval_create is not OAConnector.approval_create

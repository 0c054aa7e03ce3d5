"""The OA simulator's core: one threaded HTTP server on loopback serving each vendor's API
under its own prefix (`/dingtalk/api`, `/dingtalk/oapi`, `/wecom`, `/feishu`, `/weaver`), plus a
control API (`/_sim/...`) to create approval instances, fire signed callbacks at a KJDA
instance and inject faults. Vendor modules subclass `VendorSim`.

It is a test peer and a demo, written from the vendors' documentation (oa-protocols.md): it
never calls the real platforms.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class SimRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class SimResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(cls, data: Any, status: int = 200) -> SimResponse:
        return cls(status, json.dumps(data, ensure_ascii=False).encode())


Handler = Callable[[SimRequest, "re.Match[str]"], SimResponse]


@dataclass
class Fault:
    status: int = 500
    count: int = 1
    delay: float = 0.0


class VendorSim:
    """One platform. Subclasses fill `routes`, keep instances and received notices in memory,
    and know how to fire a correctly encrypted and signed callback."""

    name: str = ""
    prefix: str = ""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.instances: dict[str, dict[str, Any]] = {}
        self.files: dict[str, tuple[str, bytes]] = {}  # file id → (name, bytes)
        self.notices: list[dict[str, Any]] = []
        self.base_url = ""  # set by the server: http://127.0.0.1:PORT

    def routes(self) -> list[tuple[str, str, Handler]]:
        return []

    def connector_settings(self) -> dict[str, Any]:
        """Settings for a KJDA connector that talks to this simulator."""
        raise NotImplementedError

    def create_instance(self, spec: dict[str, Any]) -> str:
        """Store a realistic approval instance; `spec` gives the scenario and form values."""
        raise NotImplementedError

    def fire(self, *, callback_url: str, instance_id: str, action: str = "approved") -> dict:
        """POST the callback for `instance_id` to KJDA; return {status, body}."""
        raise NotImplementedError

    def add_template(self, code: str, name: str, labels: list[str]) -> str:
        """An approval template (process code / template id / approval code) whose form has
        one text field per label, for instances created through the vendor's API."""
        raise NotImplementedError

    def instance_decide(self, instance_id: str, *, approved: bool, approver: dict[str, Any],
                        comment: str = "", callback_url: str = "") -> dict | None:
        """An approver agrees to (or refuses) a running instance, with a comment; with a
        `callback_url` the vendor's callback for it is sent there (else it is "missed")."""
        raise NotImplementedError

    def add_file(self, name: str, data: bytes) -> str:
        file_id = uuid.uuid4().hex[:16]
        with self.lock:
            self.files[file_id] = (name, data)
        return file_id


class OASimulator:
    def __init__(self, vendors: list[VendorSim]) -> None:
        self.vendors = {v.name: v for v in vendors}
        self.faults: dict[str, Fault] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) log, for assertions
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for vendor in vendors:
            for method, pattern, handler in vendor.routes():
                self._routes.append((method, re.compile("^" + vendor.prefix + pattern + "$"),
                                     handler))
        self._server: ThreadingHTTPServer | None = None
        self.base_url = ""

    # --- control -------------------------------------------------------------------------
    def fail_next(self, prefix: str, *, status: int = 500, count: int = 1,
                  delay: float = 0.0) -> None:
        """The next `count` API calls under `prefix` answer `status` (or stall `delay` s)."""
        self.faults[prefix] = Fault(status, count, delay)

    def _fault_for(self, path: str) -> Fault | None:
        for prefix, fault in list(self.faults.items()):
            if path.startswith(prefix) and fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    del self.faults[prefix]
                return fault
        return None

    def dispatch(self, req: SimRequest) -> SimResponse:
        if req.path.startswith("/_sim/"):
            return self._control(req)
        self.requests.append((req.method, req.path))
        fault = self._fault_for(req.path)
        if fault:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                return SimResponse.of_json({"errcode": -1, "errmsg": "simulated failure"},
                                           fault.status)
        for method, pattern, handler in self._routes:
            if method == req.method and (m := pattern.match(req.path)):
                return handler(req, m)
        return SimResponse.of_json({"errcode": 404, "errmsg": f"no route {req.path}"}, 404)

    def _control(self, req: SimRequest) -> SimResponse:
        parts = req.path.strip("/").split("/")  # _sim, vendor, verb
        if len(parts) < 3 or parts[1] not in self.vendors:
            return SimResponse.of_json({"error": "unknown vendor"}, 404)
        vendor, verb = self.vendors[parts[1]], parts[2]
        body = req.json() if req.body else {}
        if verb == "settings":
            return SimResponse.of_json(vendor.connector_settings())
        if verb == "instances" and req.method == "POST":
            return SimResponse.of_json({"instance_id": vendor.create_instance(body)})
        if verb == "fire" and req.method == "POST":
            return SimResponse.of_json(vendor.fire(callback_url=body["callback_url"],
                                                   instance_id=body["instance_id"],
                                                   action=body.get("action", "approved")))
        if verb == "templates" and req.method == "POST":
            return SimResponse.of_json({"code": vendor.add_template(
                body["code"], body.get("name", "审批"), list(body.get("labels") or []))})
        if verb == "decide" and req.method == "POST":
            return SimResponse.of_json(vendor.instance_decide(
                body["instance_id"], approved=bool(body.get("approved", True)),
                approver=body.get("approver") or {"id": "manager01", "name": "经理"},
                comment=body.get("comment", ""), callback_url=body.get("callback_url", ""))
                or {"ok": True})
        if verb == "notices":
            return SimResponse.of_json(vendor.notices)
        if verb == "login_user" and req.method == "POST" and hasattr(vendor, "login_user"):
            # who is signed in to the simulated OA client (its authorize page and JSSDK codes)
            vendor.login_user = str(body.get("user") or "")  # type: ignore[attr-defined]
            return SimResponse.of_json({"login_user": vendor.login_user})  # type: ignore[attr-defined]
        if verb == "fault" and req.method == "POST":
            self.fail_next(vendor.prefix + body.get("path", ""), status=body.get("status", 500),
                           count=body.get("count", 1), delay=body.get("delay", 0.0))
            return SimResponse.of_json({"ok": True})
        return SimResponse.of_json({"error": "unknown control verb"}, 404)

    # --- server --------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        sim = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
                req = SimRequest(self.command, split.path, query,
                                 {k.lower(): v for k, v in self.headers.items()}, body)
                try:
                    resp = sim.dispatch(req)
                except Exception as exc:  # noqa: BLE001 - a simulator bug answers 500, visibly
                    resp = SimResponse.of_json({"errcode": -2, "errmsg": repr(exc)}, 500)
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(resp.body)))
                for name, value in resp.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(resp.body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://{host}:{self._server.server_address[1]}"
        for vendor in self.vendors.values():
            vendor.base_url = self.base_url
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name="oa-sim", daemon=True).start()
        return self.base_url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

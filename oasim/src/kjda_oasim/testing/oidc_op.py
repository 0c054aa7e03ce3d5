"""A small OpenID Connect provider on loopback, for SSO tests: discovery, an authorization
endpoint that signs the chosen user in at once, a token endpoint (client secret by POST or
HTTP Basic, single-use codes bound to the redirect URI, PKCE S256 per RFC 7636), a JWKS
endpoint with its own RSA key, and userinfo. Written from OpenID Connect Core 1.0 and
RFC 6749/7636/7517; id_tokens are RS256 JWS made with PyJWT.

`tamper` makes the next id_tokens wrong in one way (signed by another key, another issuer or
audience, expired, another nonce) so tests can show each is refused.

RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2–3): `end_session_endpoint` in
discovery (unless `rp_logout` is False); the endpoint checks that `id_token_hint` is one of its
own id_tokens (signature and issuer; an expired one is accepted, §2), that `client_id`, if
sent, is the hint's audience, and that `post_logout_redirect_uri` is registered
(`post_logout_redirect_uris`), then ends the session and redirects there with `state`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    sub: str
    nonce: str | None
    challenge: str | None
    method: str | None
    scope: str
    created: float = field(default_factory=time.time)


class OIDCProvider:
    def __init__(self, *, client_id: str = "kjda", client_secret: str | None = None) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        self.users: dict[str, dict[str, Any]] = {}
        self.current_user = ""
        self.codes: dict[str, _Grant] = {}
        self.access_tokens: dict[str, str] = {}  # token → sub
        self.tamper: dict[str, Any] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.issued_id_tokens: list[str] = []
        self.rp_logout = True
        self.post_logout_redirect_uris: set[str] = set()
        self.end_session_requests: list[dict[str, str]] = []
        self.logged_out: list[str] = []  # subs whose session ended
        self.lock = threading.Lock()
        self.issuer = ""
        self._server: ThreadingHTTPServer | None = None

    # --- control ---------------------------------------------------------------------------
    def add_user(self, sub: str, **claims: Any) -> None:
        self.users[sub] = {"sub": sub, **claims}
        self.current_user = self.current_user or sub

    @property
    def discovery(self) -> dict[str, Any]:
        base = self.issuer
        return {
            "issuer": base, "authorization_endpoint": base + "/authorize",
            "token_endpoint": base + "/token", "userinfo_endpoint": base + "/userinfo",
            "jwks_uri": base + "/jwks", "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                      "client_secret_basic"],
            "scopes_supported": ["openid", "profile", "email", "phone"],
            **({"end_session_endpoint": base + "/logout"} if self.rp_logout else {}),
        }

    def id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        t = self.tamper
        claims = {k: v for k, v in self.users[grant.sub].items()}
        claims.update({"iss": t.get("iss", self.issuer), "aud": t.get("aud", grant.client_id),
                       "iat": now, "exp": now + int(t.get("exp_delta", 300)),
                       "auth_time": now})
        if "jti" in t:  # a fixed token id: the second id_token with it is a replay
            claims["jti"] = t["jti"]
        if grant.nonce is not None or "nonce" in t:
            claims["nonce"] = t.get("nonce", grant.nonce)
        key = self.other_key if t.get("other_key") else self.key
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})
        self.issued_id_tokens.append(token)
        return token

    # --- endpoints -------------------------------------------------------------------------
    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.authorize_requests.append(query)
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri:
            return 400, {}, b'{"error":"invalid_request"}'
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return _redirect(redirect_uri, error="unsupported_response_type",
                             state=query.get("state"))
        sub = query.get("login_hint") or self.current_user
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = _Grant(self.client_id, redirect_uri, sub, query.get("nonce"),
                                      query.get("code_challenge"),
                                      query.get("code_challenge_method"), query["scope"])
        return _redirect(redirect_uri, code=code, state=query.get("state"))

    def _token(self, form: dict[str, str], headers: dict[str, str]) -> tuple[int, dict, bytes]:
        self.token_requests.append(form)
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if (auth := headers.get("authorization", "")).startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != self.client_id or secret != self.client_secret:
            return _json(401, {"error": "invalid_client"})
        if form.get("grant_type") != "authorization_code":
            return _json(400, {"error": "unsupported_grant_type"})
        with self.lock:
            grant = self.codes.pop(form.get("code", ""), None)  # single use
        if grant is None or time.time() - grant.created > 300 or \
                grant.redirect_uri != form.get("redirect_uri"):
            return _json(400, {"error": "invalid_grant"})
        if grant.challenge:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if grant.method != "S256" or digest.rstrip(b"=").decode() != grant.challenge:
                return _json(400, {"error": "invalid_grant",
                                   "error_description": "PKCE verification failed"})
        access = secrets.token_urlsafe(24)
        self.access_tokens[access] = grant.sub
        return _json(200, {"access_token": access, "token_type": "Bearer", "expires_in": 300,
                           "id_token": self.id_token(grant), "scope": grant.scope})

    def _userinfo(self, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        auth = headers.get("authorization", "")
        sub = self.access_tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if sub is None:
            return _json(401, {"error": "invalid_token"})
        return _json(200, self.users[sub])

    def _end_session(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.end_session_requests.append(query)
        try:
            hint = jwt.decode(query.get("id_token_hint", ""), self.key.public_key(),
                              algorithms=["RS256"], issuer=self.issuer,
                              options={"verify_exp": False, "verify_aud": False})
        except jwt.PyJWTError:
            return _json(400, {"error": "invalid_request",
                               "error_description": "id_token_hint is not ours"})
        audiences = hint["aud"] if isinstance(hint["aud"], list) else [hint["aud"]]
        if query.get("client_id") and query["client_id"] not in audiences:
            return _json(400, {"error": "invalid_request",
                               "error_description": "client_id is not the hint's audience"})
        back = query.get("post_logout_redirect_uri")
        if back and back not in self.post_logout_redirect_uris:
            return _json(400, {"error": "invalid_request",
                               "error_description": "post_logout_redirect_uri not registered"})
        self.logged_out.append(hint["sub"])
        if back:
            return _redirect(back, state=query.get("state"))
        return 200, {"Content-Type": "text/plain"}, b"logged out"

    def _jwks(self) -> tuple[int, dict, bytes]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return _json(200, {"keys": [jwk]})

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        if path == "/.well-known/openid-configuration":
            return _json(200, self.discovery)
        if path == "/jwks":
            return self._jwks()
        if path == "/authorize":
            return self._authorize(query)
        if path == "/token" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            return self._token(form, headers)
        if path == "/userinfo":
            return self._userinfo(headers)
        if path == "/logout" and self.rp_logout:
            if method == "POST":  # §2: the OP supports GET and POST (form-encoded)
                query = {**query, **{k: v[0] for k, v in parse_qs(body.decode()).items()}}
            return self._end_session(query)
        return _json(404, {"error": "not_found"})

    # --- server ----------------------------------------------------------------------------
    def start(self) -> str:
        op = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = {k: v[0] for k, v in parse_qs(split.query).items()}
                status, extra, payload = op.handle(
                    self.command, split.path, query,
                    {k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **extra}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name="oidc-op").start()
        return self.issuer

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()


def _json(status: int, data: dict) -> tuple[int, dict[str, str], bytes]:
    return status, {"Cache-Control": "no-store"}, json.dumps(data).encode()


def _redirect(uri: str, **params: str | None) -> tuple[int, dict[str, str], bytes]:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    if query:
        uri += ("&" if "?" in uri else "?") + query
    return 302, {"Location": uri}, b""

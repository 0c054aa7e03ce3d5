"""The light entry page the OA workbench opens (`/m/`, `/m/<platform>/`): in-app login through
DingTalk 免登 / WeCom snsapi_base / Feishu 网页应用免登 without a password prompt, then `next`
(a path on this site) or a phone-first home: my applications, search, my loans.

The vendor's JSSDK script host is admitted to `script-src` on the entry page only; our own
script is the static kjda/m-login.js."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode

from allauth.core import ratelimit
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from kjda.accounts.selectors import actor_profile
from kjda.accounts.sso.inapp import INAPP_FLOWS, inapp_entry, wecom_authorize_url
from kjda.accounts.sso.services import safe_next, sso_inapp_login
from kjda.archives import selectors
from kjda.archives.selectors import RecordFilters
from kjda.errors import DomainError

# The OA clients' built-in browsers name themselves in the user agent.
USER_AGENTS = (("dingtalk", re.compile(r"DingTalk", re.I)),
               ("wecom", re.compile(r"wxwork", re.I)),
               ("feishu", re.compile(r"Lark|Feishu", re.I)))
STATE_KEY = "kjda_m_state"  # session: WeCom redirect state → next
HOME_LIMIT = 20

# Why the in-app login did not happen, as the failure page says it.
REASONS = {
    "not_in_app": ("请在钉钉、企业微信或飞书中打开本页面",
                   "open this page inside DingTalk, WeCom or Feishu"),
    "not_configured": ("本系统未配置该 OA 平台的单点登录",
                       "single sign-on is not configured for this OA platform"),
    "refused": ("OA 客户端未给出免登授权码", "the OA client gave no login code"),
    "timeout": ("OA 客户端未响应", "the OA client did not answer"),
    "state": ("登录请求已过期，请重新打开", "the login request expired; open the page again"),
}


def platform_from_agent(user_agent: str) -> str:
    return next((p for p, pattern in USER_AGENTS if pattern.search(user_agent)), "")


def _next(request: HttpRequest) -> str:
    return safe_next(request.GET.get("next") or request.POST.get("next"),
                     host=request.get_host())


def _failed(request: HttpRequest, *, reason: str, next_url: str, status: int = 200,
            code: str = "", zh: str = "", en: str = "") -> HttpResponse:
    zh, en = (zh, en) if zh else REASONS.get(reason, REASONS["refused"])
    login = reverse("web:login") + (f"?{urlencode({'next': next_url})}" if next_url else "")
    return render(request, "web/m_failed.html", {"code": code or f"sso_inapp_{reason}", "zh": zh,
                                                  "en": en, "login_url": login}, status=status)


@require_GET
def entry(request: HttpRequest, platform: str = "") -> HttpResponse:
    next_url = _next(request)
    platform = platform or platform_from_agent(request.headers.get("User-Agent", ""))
    conf = inapp_entry(request, platform) if platform in INAPP_FLOWS else None
    if request.user.is_authenticated and conf is None:
        return HttpResponseRedirect(next_url or reverse("web:m_home"))
    # Signed in already: the in-app login runs anyway (it is silent), so a phone handed to
    # another person in the OA opens KJDA as that person, not as whoever used it before.
    if platform not in INAPP_FLOWS:
        return _failed(request, reason="not_in_app", next_url=next_url)
    if conf is None:
        return _failed(request, reason="not_configured", next_url=next_url, status=404)
    if conf.flow == "redirect":  # WeCom: its client answers the authorize page silently
        state = secrets.token_urlsafe(16)
        states = dict(request.session.get(STATE_KEY) or {})
        states = dict(list(states.items())[-4:])  # a few tabs at once, no more
        states[state] = next_url
        request.session[STATE_KEY] = states
        callback = request.build_absolute_uri(reverse("web:m_callback", args=[platform]))
        return HttpResponseRedirect(wecom_authorize_url(request, conf, redirect_uri=callback,
                                                        state=state))
    response = render(request, "web/m_entry.html", {
        "conf": conf, "next_url": next_url,
        "login_url": reverse("web:m_login", args=[platform]),
        "failed_url": reverse("web:m_failed", args=[platform]),
    })
    # The vendor's script host, for this page only (django-csp reads `_csp_update`).
    response._csp_update = {"script-src": [conf.jsapi_origin]}  # type: ignore[attr-defined]
    return response


def _login(request: HttpRequest, platform: str, code: str, next_url: str) -> HttpResponse:
    # every attempt counts against the per-address login limit, as the web login's do (each
    # costs calls to the OA platform)
    if limited := ratelimit.consume_or_429(request, action="login"):
        return limited
    if request.user.is_authenticated:  # the OA's person decides who this session is
        logout(request)
    try:
        return sso_inapp_login(request=request, platform=platform, code=code, next_url=next_url,
                               default_next=reverse("web:m_home"))
    except DomainError as exc:
        return _failed(request, reason="refused", next_url=next_url, status=exc.status,
                       code=exc.code, zh=exc.zh, en=exc.en)


@require_POST
def login_post(request: HttpRequest, platform: str) -> HttpResponse:
    """The code the page got from the JSSDK, posted by kjda/m-login.js."""
    return _login(request, platform, str(request.POST.get("code", "")), _next(request))


@require_GET
def callback(request: HttpRequest, platform: str) -> HttpResponse:
    """WeCom's redirect back with `code` and our `state`."""
    states = dict(request.session.get(STATE_KEY) or {})
    state = str(request.GET.get("state", ""))
    if state not in states:
        return _failed(request, reason="state", next_url="", status=400)
    next_url = states.pop(state)
    request.session[STATE_KEY] = states
    return _login(request, platform, str(request.GET.get("code", "")), next_url)


@require_GET
def failed(request: HttpRequest, platform: str) -> HttpResponse:
    """Where kjda/m-login.js goes when the OA client gave no code (not inside it, refused)."""
    reason = str(request.GET.get("reason", ""))
    if request.user.is_authenticated:  # opened outside the OA by someone signed in already
        return HttpResponseRedirect(_next(request) or reverse("web:m_home"))
    return _failed(request, reason=reason if reason in REASONS else "refused",
                   next_url=_next(request))


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    name = actor_profile(user).person_name or user.get_username()
    mine = selectors.record_list(actor=user, filters=RecordFilters(applicant=name))
    return render(request, "web/m_home.html", {
        "name": name, "records": list(mine.order_by("-date", "-pk")[:HOME_LIMIT])})

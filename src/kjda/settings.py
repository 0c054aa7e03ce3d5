"""KJDA settings: everything comes from the environment, with defaults that run on one machine.

KJDA_DATA_DIR   folder for the SQLite file, the blob store and the generated secret key
DATABASE_URL    e.g. postgres://postgres@127.0.0.1:5432/kjda (default: SQLite in KJDA_DATA_DIR)
KJDA_SQLITE_BACKEND  group_commit (default) or stock (Django's SQLite backend)
KJDA_SQLITE_TIMEOUT  seconds a writer waits for SQLite's write lock (default 60)
KJDA_SEARCH_DATABASE_URL  searches read through this (default: DATABASE_URL, read-only)
STORAGE_URL     file:///path or s3://bucket/prefix?endpoint_url=… (default: KJDA_DATA_DIR/blobs)
KJDA_WATERMARK  loans (default) | always | off: which previews, downloads and prints are marked
KJDA_REPLICA_URL  a second blob store (file:///… or s3://…) holding a copy of every blob
KJDA_FIXITY_BYTES_PER_SECOND  the daily fixity audit's read rate (default 32 MiB/s; 0: no limit)
KJDA_FIXITY_CYCLE_DAYS  every blob re-hashed at least once per this many days (default 90)
KJDA_MONITOR_INTERVAL_SECONDS  how often a worker runs the monitor's probes (default 300)
KJDA_ALARM_DISK_FREE_PERCENT / KJDA_ALARM_DISK_FREE_BYTES  low free space below either (10, 5 GiB)
KJDA_SLOW_REQUEST_MS / KJDA_ALARM_SLOW_COUNT  that many requests slower than this per 5 minutes
KJDA_ALARM_REFUSALS  refusals of one account or address within 15 minutes (default 10)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url

from kjda.accounts.sso.config import sso_providers_from_env
from kjda.platforms import sso_apps as platform_sso_apps

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("KJDA_DATA_DIR", "./kjda-data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    if key := os.environ.get("KJDA_SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        # Generated once and kept in the data dir so sessions survive restarts.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
# A rotated secret key: the old ones, comma-separated, still verify sessions and signed links
# (Django's stock rotation), so a node with the new key is not taken for a stray one.
SECRET_KEY_FALLBACKS = [k.strip() for k in os.environ.get("KJDA_SECRET_KEY_FALLBACKS", "")
                        .split(",") if k.strip()]


# Audit log integrity (kjda.audit.keys): the HMAC key of the audit chain and of its checkpoints,
# kept outside the database like the secret key. KJDA_AUDIT_KEY, or the first line of
# KJDA_DATA_DIR/audit_key (generated 0600 on first start); older keys (KJDA_AUDIT_OLD_KEYS,
# comma-separated, or the file's further lines) only verify the events written with them.
def _audit_keys() -> tuple[str, list[str]]:
    old = [k.strip() for k in os.environ.get("KJDA_AUDIT_OLD_KEYS", "").split(",") if k.strip()]
    path = DATA_DIR / "audit_key"
    if not os.environ.get("KJDA_AUDIT_KEY") and not path.exists():
        # Written whole under a temporary name, then linked: a process starting at the same
        # moment never reads a half-written key, and the first one to link wins.
        tmp = path.with_name(f".audit_key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    lines = [ln.strip() for ln in path.read_text().splitlines()] if path.exists() else []
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if key := os.environ.get("KJDA_AUDIT_KEY", "").strip():
        return key, old + lines
    return lines[0], old + lines[1:]


KJDA_AUDIT_KEY, KJDA_AUDIT_OLD_KEYS = _audit_keys()
# A signed checkpoint of the audit chain goes to the blob store this often (when there are new
# events), and at `kjda serve` start and shutdown.
KJDA_AUDIT_CHECKPOINT_MINUTES = float(os.environ.get("KJDA_AUDIT_CHECKPOINT_MINUTES", "10"))
DEBUG = os.environ.get("KJDA_DEBUG", "") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("KJDA_ALLOWED_HOSTS", "*").split(",") if h]
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("KJDA_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "csp",
    "ninja",  # serves the API docs' Swagger UI from our static files, not a CDN
    "django_tasks",
    "django_tasks_db",
    "kjda.accounts",
    "kjda.audit",
    "kjda.storage",
    "kjda.archives",
    "kjda.ingest",
    "kjda.invoices",
    "kjda.connectors",
    # custody and disposition (issue 17): one app per workflow
    "kjda.lifecycle.volumes",
    "kjda.lifecycle.transfers",
    "kjda.lifecycle.appraisal",
    "kjda.lifecycle.destruction",
    "kjda.lifecycle.loans",
    "kjda.lifecycle.preservation",
    "kjda.lifecycle.formatwatch",  # 格式监测 (issue 19 item 6)
    "kjda.preservation.backup",
    "kjda.preservation.monitoring",
    "kjda.api",
    "kjda.web",  # before allauth: our templates override its layout
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    # SSO providers (ours: OIDC with nonce; the OA platforms' from their descriptors:
    # DingTalk/Feishu on current endpoints, WeCom)
    "kjda.accounts.sso.oidc",
    *platform_sso_apps(),
]

MIDDLEWARE = [
    # outermost: times the whole request (slow-response alarms, issue 19 item 5)
    "kjda.preservation.monitoring.middleware.SlowRequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "kjda.web.csp.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "kjda.web.middleware.ForcePasswordChangeMiddleware",
    "kjda.web.middleware.RequireMfaMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "kjda.api.middleware.MethodNotAllowedJsonMiddleware",
]

ROOT_URLCONF = "kjda.urls"
WSGI_APPLICATION = "kjda.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kjda.web.context.kjda_access",
            ],
        },
    },
]


def _database() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL")
    if url:
        db: dict[str, Any] = dict(
            dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
        if db["ENGINE"].endswith("postgresql"):
            db.setdefault("TEST", {})["NAME"] = os.environ.get("KJDA_TEST_DB_NAME", "kjda_test")
        return db
    backend = os.environ.get("KJDA_SQLITE_BACKEND", "group_commit").strip().lower()
    if backend not in ("group_commit", "stock"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("KJDA_SQLITE_BACKEND must be group_commit or stock")
    timeout = float(os.environ.get("KJDA_SQLITE_TIMEOUT", "60"))
    return {
        # group_commit: our backend (kjda.db.sqlite), writers queue on a lock and concurrent
        # filings share one COMMIT; stock: Django's own, writers wait in SQLite's busy handler.
        "ENGINE": "kjda.db.sqlite" if backend == "group_commit" else "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "kjda.sqlite3"),
        # Kept open between requests: opening one (and its PRAGMAs, and a cold page cache)
        # cost more than a small request itself.
        "CONN_MAX_AGE": 600,
        "OPTIONS": {
            # Writers wait for the lock (up to KJDA_SQLITE_TIMEOUT seconds, then "database is
            # locked"), and archive numbers are allocated inside IMMEDIATE transactions
            # (gap-free, no races).
            "transaction_mode": "IMMEDIATE",
            "timeout": timeout,
            # synchronous=FULL: a commit is on disk before the answer (a filed record, an OA
            # callback acknowledged); NORMAL could lose the last commits on a power cut.
            "init_command": (
                "PRAGMA journal_mode=WAL;PRAGMA synchronous=FULL;"
                f"PRAGMA busy_timeout={int(timeout * 1000)};PRAGMA cache_size=-65536"
            ),
        },
        # A file, not :memory:, so concurrency tests see one database from many threads.
        "TEST": {"NAME": str(DATA_DIR / "test-kjda.sqlite3")},
    }


def _search_database(default: dict[str, Any]) -> dict[str, Any]:
    """The `search` alias (kjda.db.routers): the same database, read-only."""
    url = os.environ.get("KJDA_SEARCH_DATABASE_URL")
    if url:  # e.g. a role with SELECT only
        db: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60,
                                                        conn_health_checks=True))
    else:
        db = {**default, "OPTIONS": dict(default.get("OPTIONS", {}))}
    db["TEST"] = {"MIRROR": "default"}  # tests read the test database through it
    if db["ENGINE"].endswith("postgresql"):
        options = db.setdefault("OPTIONS", {})
        options["options"] = (options.get("options", "") + " -c default_transaction_read_only=on"
                              ).strip()
        return db
    # SQLite: Django's own backend (no writer queue: it never writes), opened read-only;
    # query_only also holds where the test runner gives the mirror a plain file name.
    options = db["OPTIONS"]
    db["ENGINE"] = "django.db.backends.sqlite3"
    if not url:
        db["NAME"] = Path(default["NAME"]).as_uri() + "?mode=ro"
    options.pop("transaction_mode", None)
    options["init_command"] = (f"PRAGMA query_only=ON;PRAGMA busy_timeout="
                               f"{int(float(options.get('timeout', 60)) * 1000)};"
                               "PRAGMA cache_size=-65536")
    return db


DATABASES = {"default": _database()}
DATABASES["search"] = _search_database(DATABASES["default"])
DATABASE_ROUTERS = ["kjda.db.routers.ReadOnlySearchRouter"]
# SQLite group commit (kjda.db.sqlite.group_commit): how long a filing transaction may wait for
# filings of the same process that are about to join it.
KJDA_SQLITE_COMMIT_DELAY_MS = float(os.environ.get("KJDA_SQLITE_COMMIT_DELAY_MS", "2"))
# A worker's claim on an OA inbox event (kjda.connectors.processing): when the worker dies, the
# event waits this long before another worker takes it over.
KJDA_INBOX_LEASE_SECONDS = float(os.environ.get("KJDA_INBOX_LEASE_SECONDS", "600"))
# Ingest pipelines (identify → check) one process runs at once (kjda.ingest.services).
KJDA_INGEST_PARALLEL = int(os.environ.get("KJDA_INGEST_PARALLEL", "2"))

# Active content in received files (scripts, launch actions, embedded programs: check GD-4-2.1):
# `warn` files the record with a warning in the check report, `hold` keeps it 待处理 for review.
KJDA_ACTIVE_CONTENT = os.environ.get("KJDA_ACTIVE_CONTENT", "warn").strip().lower()
if KJDA_ACTIVE_CONTENT not in ("warn", "hold"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("KJDA_ACTIVE_CONTENT must be warn or hold")
# Watermarks on what readers take away (kjda.lifecycle.file_use, issue 18): `loans` (default)
# marks every preview, download and print of a record seen through a loan, `always` every one
# by anyone, `off` none. The marks' HMAC key: KJDA_WATERMARK_KEY, else derived from SECRET_KEY.
KJDA_WATERMARK = os.environ.get("KJDA_WATERMARK", "loans").strip().lower()
if KJDA_WATERMARK not in ("loans", "always", "off"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("KJDA_WATERMARK must be loans, always or off")
KJDA_WATERMARK_KEY = os.environ.get("KJDA_WATERMARK_KEY", "")
# Shared by every worker process (the login lockout counts failures here), in the database so
# the embedded default needs no other service.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                      "LOCATION": "kjda_cache"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Backup (kjda.preservation.backup): older than this the last good backup raises an alarm.
KJDA_BACKUP_MAX_AGE_HOURS = float(os.environ.get("KJDA_BACKUP_MAX_AGE_HOURS", "26"))
STORAGE_URL = os.environ.get("STORAGE_URL", (DATA_DIR / "blobs").as_uri())
# The orphan sweep (kjda.storage.services.storage_sweep, run by the periodic loop) removes blob
# files no record refers to and stale temporary files once they are this old: a younger one
# may still be being written or filed.
KJDA_ORPHAN_GRACE_HOURS = float(os.environ.get("KJDA_ORPHAN_GRACE_HOURS", "24"))
# Fixity audit (issue 19): re-hash every blob at most this fast (bytes per second, 0 = no limit),
# each at least once per cycle; a second store holding a copy of every blob, for repair.
KJDA_FIXITY_BYTES_PER_SECOND = int(os.environ.get("KJDA_FIXITY_BYTES_PER_SECOND",
                                                  str(32 * 1024 * 1024)))
KJDA_FIXITY_CYCLE_DAYS = float(os.environ.get("KJDA_FIXITY_CYCLE_DAYS", "90"))
KJDA_REPLICA_URL = os.environ.get("KJDA_REPLICA_URL", "")
# Monitoring (kjda.preservation.monitoring, issue 19 item 5): one worker per interval runs the
# probes; each threshold below raises an alarm that stays open until acknowledged.
KJDA_MONITOR_INTERVAL_SECONDS = float(os.environ.get("KJDA_MONITOR_INTERVAL_SECONDS", "300"))
KJDA_ALARM_DISK_FREE_PERCENT = float(os.environ.get("KJDA_ALARM_DISK_FREE_PERCENT", "10"))
KJDA_ALARM_DISK_FREE_BYTES = int(os.environ.get("KJDA_ALARM_DISK_FREE_BYTES", str(5 * 1024**3)))
KJDA_SLOW_REQUEST_MS = float(os.environ.get("KJDA_SLOW_REQUEST_MS", "3000"))
KJDA_ALARM_SLOW_COUNT = int(os.environ.get("KJDA_ALARM_SLOW_COUNT", "5"))
KJDA_ALARM_REFUSALS = int(os.environ.get("KJDA_ALARM_REFUSALS", "10"))

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "web:login"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
# django-allauth: local accounts only by username, no self sign-up (the security
# administrator creates accounts), lockout after repeated failures, TOTP second factor.
ACCOUNT_ADAPTER = "kjda.accounts.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = False
# Borrowing (issue 18): the most records one loan may lend (a volume or a search resolves to
# at most this many).
KJDA_LOAN_MAX_RECORDS = int(os.environ.get("KJDA_LOAN_MAX_RECORDS", "500"))
KJDA_LOGIN_FAILURES = int(os.environ.get("KJDA_LOGIN_FAILURES", "5"))
KJDA_LOCKOUT_MINUTES = int(os.environ.get("KJDA_LOCKOUT_MINUTES", "15"))
# Behind reverse proxies (KJDA_TRUST_PROXY=1, or the number of proxy hops): the client address
# is the X-Forwarded-For entry that many hops from the right, for the audit log and for
# allauth's per-address login limits alike. Without it every client behind the proxy would
# share one address, and one attacker's failures would throttle everybody's logins.
_trust_proxy = os.environ.get("KJDA_TRUST_PROXY", "").strip().lower()
KJDA_TRUST_PROXY = (int(_trust_proxy) if _trust_proxy.isdigit()
                    else 1 if _trust_proxy in ("true", "yes", "on") else 0)
ALLAUTH_TRUSTED_PROXY_COUNT = KJDA_TRUST_PROXY
# Login attempts per client address per minute (web login and POST /api/v1/auth/token alike).
KJDA_LOGIN_IP_RATE = int(os.environ.get("KJDA_LOGIN_IP_RATE", "30"))
ACCOUNT_RATE_LIMITS = {
    # per username ("key") and per address: the account is locked for the window
    "login_failed": f"{KJDA_LOGIN_FAILURES}/{KJDA_LOCKOUT_MINUTES}m/key,"
                    f"{KJDA_LOGIN_FAILURES * 4}/{KJDA_LOCKOUT_MINUTES}m/ip",
    # every attempt, right or wrong, per address: one address can't spray many accounts
    "login": f"{KJDA_LOGIN_IP_RATE}/1m/ip",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "KJDA"
# Roles that must log in with a second factor (comma-separated role codes).
# `none` turns the requirement off (a test instance only: `kjda serve` warns at every start).
KJDA_MFA_REQUIRED_ROLES = [r.strip() for r in os.environ.get(
    "KJDA_MFA_REQUIRED_ROLES", "sysadmin,secadmin,auditadmin").split(",")
    if r.strip() and r.strip().lower() != "none"]
# Single sign-on (django-allauth socialaccount): providers from KJDA_OIDC_*, KJDA_DINGTALK_*,
# KJDA_WECOM_*, KJDA_FEISHU_* (accounts/sso/config.py) or SocialApp rows in the database.
SOCIALACCOUNT_ADAPTER = "kjda.accounts.sso.adapter.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = sso_providers_from_env(os.environ)
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # matching is ours (accounts/sso/services.py)
# Whether an unknown SSO user gets an account at the first login, and with which roles.
KJDA_SSO_PROVISION = os.environ.get("KJDA_SSO_PROVISION", "1") == "1"
KJDA_SSO_DEFAULT_ROLES = [r for r in os.environ.get(
    "KJDA_SSO_DEFAULT_ROLES", "employee").split(",") if r]
# OA callbacks: the lean path in front of Django (kjda.connectors.fastpath, group commit) when
# on; off, the stock Django view answers them. Both write through the same service.
KJDA_CALLBACK_FASTPATH = os.environ.get("KJDA_CALLBACK_FASTPATH", "on").lower() in (
    "on", "1", "true", "yes")
# Directory sync (departments, leavers) of the enabled DingTalk/WeCom/Feishu connectors.
KJDA_DIRECTORY_SYNC_MINUTES = int(os.environ.get("KJDA_DIRECTORY_SYNC_MINUTES", "60"))
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "web:login"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("KJDA_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Uploads over 2.5 MB go to a temporary file; we hash and store from it in chunks.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# In the data folder (not the system's /tmp), so the orphan sweep finds what a killed upload left.
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp" / "uploads")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# JSON a client sends (API bodies, record metadata with its `extra`): larger or deeper is a
# 4xx JSON error (kjda.inputs), never a RecursionError.
KJDA_MAX_JSON_BYTES = int(os.environ.get("KJDA_MAX_JSON_BYTES", str(256 * 1024)))
KJDA_MAX_JSON_DEPTH = int(os.environ.get("KJDA_MAX_JSON_DEPTH", "64"))
KJDA_MAX_FILE_BYTES = int(os.environ.get("KJDA_MAX_FILE_BYTES", str(4 * 1024**3)))
KJDA_FONDS_CODE = os.environ.get("KJDA_FONDS_CODE", "Z001")
KJDA_FONDS_NAME = os.environ.get("KJDA_FONDS_NAME", "本单位会计档案全宗")
# Where users reach this KJDA: links in notices sent to OA users point here.
KJDA_PUBLIC_URL = os.environ.get("KJDA_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
KJDA_TOKEN_TTL_HOURS = int(os.environ.get("KJDA_TOKEN_TTL_HOURS", "720"))

# Outbound HTTP (kjda.outbound): loopback, private, link-local and other non-public addresses
# are refused unless listed here (host names, IPs, CIDRs, each optionally with :port), e.g. a
# self-hosted OA: "oa.corp.local,10.20.0.0/16" or the simulator: "127.0.0.1:9800".
KJDA_OUTBOUND_ALLOW = os.environ.get("KJDA_OUTBOUND_ALLOW", "")
KJDA_OUTBOUND_MAX_BYTES = int(os.environ.get("KJDA_OUTBOUND_MAX_BYTES",
                                             str(KJDA_MAX_FILE_BYTES)))
KJDA_OUTBOUND_CONNECT_TIMEOUT = float(os.environ.get("KJDA_OUTBOUND_CONNECT_TIMEOUT", "10"))
KJDA_OUTBOUND_TOTAL_TIMEOUT = float(os.environ.get("KJDA_OUTBOUND_TOTAL_TIMEOUT", "600"))
# An egress proxy for outbound calls (HTTP_PROXY/HTTPS_PROXY are not used), e.g.
# "http://proxy.corp.local:3128"; destinations are still checked before the proxy is asked.
KJDA_OUTBOUND_PROXY = os.environ.get("KJDA_OUTBOUND_PROXY", "")

SESSION_COOKIE_HTTPONLY = True
# Idle timeout: the session expires this long after the last request (each request renews it).
SESSION_COOKIE_AGE = int(os.environ.get("KJDA_SESSION_IDLE_SECONDS", "1800"))
SESSION_SAVE_EVERY_REQUEST = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "SAMEORIGIN"

# Transport (Django's SecurityMiddleware). Served over https — KJDA_PUBLIC_URL is https, and a
# reverse proxy terminating TLS says so in X-Forwarded-Proto when KJDA_TRUST_PROXY is set (the
# same switch as for the client address) — cookies are Secure, HSTS is sent and plain-http
# requests are redirected. The default (http public URL) keeps plain http working for a single
# machine and loopback use.
KJDA_HTTPS = KJDA_PUBLIC_URL.startswith("https://")
if KJDA_TRUST_PROXY:
    # Only behind a proxy that sets this header itself (a client could send it otherwise).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = KJDA_HTTPS
CSRF_COOKIE_SECURE = KJDA_HTTPS
SECURE_SSL_REDIRECT = KJDA_HTTPS
# OA platforms POST their callbacks to the URL they were given; a redirect would drop the body
# (the payload is signed or encrypted by the vendor, so TLS is not what protects it).
SECURE_REDIRECT_EXEMPT = [r"^oa/"]
SECURE_HSTS_SECONDS = (int(os.environ.get("KJDA_HSTS_SECONDS", str(365 * 24 * 3600)))
                       if KJDA_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("KJDA_HSTS_INCLUDE_SUBDOMAINS", "") == "1"
SECURE_HSTS_PRELOAD = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Content-Security-Policy of every page (django-csp; kjda.web.csp adds the SSO providers'
# origins to form-action). Our pages run no inline script and no eval (htmx is configured for
# it in web/base.html) and carry no inline style; file downloads set their own sandbox policy.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # data: only for images: allauth's TOTP set-up page shows its QR code as a data: URI.
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "frame-src": ["'self'"],
        "worker-src": ["'none'"],
        "manifest-src": ["'self'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'self'"],
        "form-action": ["'self'"],
        "upgrade-insecure-requests": KJDA_HTTPS,
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("KJDA_LOG_LEVEL", "WARNING")},
    "loggers": {
        "kjda": {"level": os.environ.get("KJDA_LOG_LEVEL", "INFO")},
        # httpx logs whole request URLs at INFO: some vendors put secrets in query strings.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

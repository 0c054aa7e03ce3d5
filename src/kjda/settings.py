"""KJDA settings: everything comes from the environment, with defaults that run on one machine.

KJDA_DATA_DIR   folder for the SQLite file, the blob store and the generated secret key
DATABASE_URL    e.g. postgres://postgres@127.0.0.1:5432/kjda (default: SQLite in KJDA_DATA_DIR)
STORAGE_URL     file:///path or s3://bucket/prefix?endpoint_url=… (default: KJDA_DATA_DIR/blobs)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

from kjda.accounts.sso.config import sso_providers_from_env

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
    "django_tasks",
    "django_tasks_db",
    "kjda.accounts",
    "kjda.audit",
    "kjda.storage",
    "kjda.archives",
    "kjda.ingest",
    "kjda.invoices",
    "kjda.connectors",
    "kjda.api",
    "kjda.web",  # before allauth: our templates override its layout
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    # SSO providers (ours: OIDC with nonce, DingTalk/Feishu on current endpoints, WeCom)
    "kjda.accounts.sso.oidc",
    "kjda.accounts.sso.dingtalk",
    "kjda.accounts.sso.wecom",
    "kjda.accounts.sso.feishu",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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


def _database() -> dict:
    url = os.environ.get("DATABASE_URL")
    if url:
        db = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        if db["ENGINE"].endswith("postgresql"):
            db.setdefault("TEST", {})["NAME"] = os.environ.get("KJDA_TEST_DB_NAME", "kjda_test")
        return db
    return {
        "ENGINE": "kjda.db_sqlite",
        "NAME": str(DATA_DIR / "kjda.sqlite3"),
        # Kept open between requests: opening one (and its PRAGMAs, and a cold page cache)
        # cost more than a small request itself.
        "CONN_MAX_AGE": 600,
        "OPTIONS": {
            # Writers queue on the lock instead of failing with "database is locked", and
            # archive numbers are allocated inside IMMEDIATE transactions (gap-free, no races).
            "transaction_mode": "IMMEDIATE",
            "timeout": 60,
            # synchronous=FULL: a commit is on disk before the answer (a filed record, an OA
            # callback acknowledged); NORMAL could lose the last commits on a power cut.
            "init_command": (
                "PRAGMA journal_mode=WAL;PRAGMA synchronous=FULL;"
                "PRAGMA busy_timeout=60000;PRAGMA cache_size=-65536"
            ),
        },
        # A file, not :memory:, so concurrency tests see one database from many threads.
        "TEST": {"NAME": str(DATA_DIR / "test-kjda.sqlite3")},
    }


DATABASES = {"default": _database()}
# SQLite group commit (kjda.db_sqlite.group_commit): how long a filing transaction may wait for
# filings of the same process that are about to join it.
KJDA_SQLITE_COMMIT_DELAY_MS = float(os.environ.get("KJDA_SQLITE_COMMIT_DELAY_MS", "2"))
# Ingest pipelines (identify → check) one process runs at once (kjda.ingest.services).
KJDA_INGEST_PARALLEL = int(os.environ.get("KJDA_INGEST_PARALLEL", "2"))
# Shared by every worker process (the login lockout counts failures here), in the database so
# the embedded default needs no other service.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                      "LOCATION": "kjda_cache"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STORAGE_URL = os.environ.get("STORAGE_URL", (DATA_DIR / "blobs").as_uri())

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
FILE_UPLOAD_TEMP_DIR = None
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
KJDA_MAX_FILE_BYTES = int(os.environ.get("KJDA_MAX_FILE_BYTES", str(4 * 1024**3)))
KJDA_FONDS_CODE = os.environ.get("KJDA_FONDS_CODE", "Z001")
KJDA_FONDS_NAME = os.environ.get("KJDA_FONDS_NAME", "本单位会计档案全宗")
# Where users reach this KJDA: links in notices sent to OA users point here.
KJDA_PUBLIC_URL = os.environ.get("KJDA_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
KJDA_TOKEN_TTL_HOURS = int(os.environ.get("KJDA_TOKEN_TTL_HOURS", "720"))

SESSION_COOKIE_HTTPONLY = True
# Idle timeout: the session expires this long after the last request (each request renews it).
SESSION_COOKIE_AGE = int(os.environ.get("KJDA_SESSION_IDLE_SECONDS", "1800"))
SESSION_SAVE_EVERY_REQUEST = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "SAMEORIGIN"

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

"""The one settings module. Every value comes from the environment; with nothing set, the embedded
default runs: SQLite under var/, a filesystem Celery broker, a local folder as object storage.

Every variable is documented in .env.example.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF

from devices.agent import broker

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = broker.var_dir()

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-embedded-default-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "madoguchi.accounts",
    "madoguchi.audit",
    "madoguchi.operations",
    "integrations",
    "devices",
    "forms_engine",
    "intake",
    "counters",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "madoguchi.sessions.SessionMiddleware",  # Django's, renewed once a minute; push streams never write back
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "madoguchi.accounts.second_factor.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into its page
]

ROOT_URLCONF = "madoguchi.urls"
WSGI_APPLICATION = "madoguchi.wsgi.application"
ASGI_APPLICATION = "madoguchi.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "madoguchi.accounts.context_processors.roles",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'madoguchi.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets a search read the old data while an import writes the new (see integrations).
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory: browser tests run Celery workers in other processes against the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-madoguchi.sqlite3")}
elif DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql") and env.bool(
    "MADOGUCHI_DB_POOL", default=True
):
    # A bounded connection pool per process. Under ASGI every request in flight holds its own connection, so without
    # a pool 135 counters' requests pass PostgreSQL's max_connections and fail; with it they wait for a free one.
    # Keep web processes × MADOGUCHI_DB_POOL_MAX (+ workers) below max_connections.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("MADOGUCHI_DB_POOL_MAX", default=20),
        "timeout": 30,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "counters:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env.int("MADOGUCHI_PASSWORD_MIN_LENGTH", default=12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_AGE = env.int("MADOGUCHI_SESSION_IDLE_SECONDS", default=30 * 60)
# The age runs from the last request (an idle timeout), renewed at most this often (madoguchi.sessions), not by a
# write per request as SESSION_SAVE_EVERY_REQUEST would.
SESSION_SAVE_EVERY_REQUEST = False
MADOGUCHI_SESSION_RENEW_SECONDS = env.int("MADOGUCHI_SESSION_RENEW_SECONDS", default=60)
# Password login lockout (django-axes): after this many failures for one login ID, that ID is locked for the
# cool-off, whichever PC it comes from (behind the city's proxy every PC has the same address). A system admin
# unlocks earlier with `manage.py axes_reset_username <id>`. Card + PIN logins lock on their own (below).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("MADOGUCHI_LOGIN_MAX_FAILURES", default=5)
AXES_COOLOFF_TIME = env.int("MADOGUCHI_LOGIN_LOCK_MINUTES", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes warns when the address is not among the parameters; here it must not be: every PC shares the proxy's address,
# so locking by address would lock the whole city out, and per login ID is the stricter guard against guessing.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked.html"
AXES_VERBOSE = False
# One-time codes (TOTP, django-otp): users holding an admin role (or the admin site) prove a password login with a
# code from their authenticator app; the first login enrols the app. A card + PIN login is two factors already.
MADOGUCHI_OTP_REQUIRED = env.bool("MADOGUCHI_OTP_REQUIRED", default=True)
MADOGUCHI_OTP_ROLES = env.list("MADOGUCHI_OTP_ROLES", default=["system_admin", "form_admin", "auditor"])
OTP_TOTP_ISSUER = env.str("MADOGUCHI_OTP_ISSUER", default="madoguchi")
# Staff login by IC card + PIN at counter PCs (madoguchi.accounts, docs/staff-login.md): wrong PINs before the
# card login locks, for how long, and how long a tap waits for its PIN.
MADOGUCHI_CARD_PIN_MAX_FAILURES = env.int("MADOGUCHI_CARD_PIN_MAX_FAILURES", default=5)
MADOGUCHI_CARD_LOCK_SECONDS = env.int("MADOGUCHI_CARD_LOCK_SECONDS", default=15 * 60)
MADOGUCHI_CARD_LOGIN_SECONDS = env.int("MADOGUCHI_CARD_LOGIN_SECONDS", default=60)

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("MADOGUCHI_TIME_ZONE", default="Asia/Tokyo")
CELERY_TIMEZONE = TIME_ZONE  # beat's clock times (the nightly backup) are the city's
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files the app keeps (print jobs' PDFs, the outbox's PDFs): shared by the web and the workers.
MEDIA_ROOT = env.path("MADOGUCHI_MEDIA_ROOT", default=VAR_DIR / "media")
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

# --- Celery -------------------------------------------------------------------------------------------
# CELERY_BROKER_URL, else REDIS_URL, else kombu's filesystem transport under CELERY_BROKER_DIR (var/broker).
CELERY_BROKER_URL = broker.broker_url()
CELERY_BROKER_TRANSPORT_OPTIONS = broker.broker_transport_options(CELERY_BROKER_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Queues: default, imports, exports, render (the worker consumes all four); terminal.<code> per agent.
CELERY_TASK_ROUTES = {
    "integrations.tasks.inbound_*": {"queue": "imports"},
    "integrations.tasks.export_*": {"queue": "exports"},
    "forms_engine.tasks.packet_render": {"queue": "render"},
    "counters.tasks.session_output": {"queue": "render"},
}
# Seconds between looks at the inbound prefix for core-system files (R-L1: at most 10 minutes).
MADOGUCHI_INBOUND_INTERVAL_SECONDS = env.int("MADOGUCHI_INBOUND_INTERVAL_SECONDS", default=300)
CELERY_BEAT_SCHEDULE = {
    "inbound-pickup": {
        "task": "integrations.tasks.inbound_pickup",
        "schedule": float(MADOGUCHI_INBOUND_INTERVAL_SECONDS),
    },
    "export-flush": {
        "task": "integrations.tasks.export_flush",
        "schedule": float(env.int("MADOGUCHI_EXPORT_FLUSH_SECONDS", default=300)),
    },
    "export-results": {"task": "integrations.tasks.export_results_pickup", "schedule": 60.0},
    "audit-chain": {"task": "madoguchi.audit.tasks.audit_chain", "schedule": 60.0},
    "retention": {"task": "madoguchi.operations.tasks.retention_purge", "schedule": 3600.0},
    "backup": {
        "task": "madoguchi.operations.tasks.backup",
        "schedule": crontab(hour=env.int("MADOGUCHI_BACKUP_HOUR", default=2), minute=30),
    },
    "staff-changes": {"task": "madoguchi.accounts.tasks.staff_changes_apply", "schedule": 3600.0},
    "print-redispatch": {"task": "devices.tasks.print_jobs_redispatch", "schedule": 60.0},
    "render-redispatch": {"task": "forms_engine.tasks.packet_renders_redispatch", "schedule": 60.0},
    "agent-records-purge": {"task": "devices.tasks.agent_records_purge", "schedule": 300.0},
    "session-output-redispatch": {"task": "counters.tasks.sessions_output_redispatch", "schedule": 60.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Push channel (madoguchi.push) ---------------------------------------------------------------------
# Redis pub/sub for the live screens' events, default REDIS_URL. Empty: an in-process hub, which reaches only the
# streams of the publishing process — then the web must run as one process.
MADOGUCHI_PUSH_URL = env.str("MADOGUCHI_PUSH_URL", default=env.str("REDIS_URL", default=""))

# --- Cache (rate limits) -------------------------------------------------------------------------------
# Redis when REDIS_URL is set, so every process counts together; else each process's memory (the demo).
if env.str("REDIS_URL", default=""):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env.str("REDIS_URL"),
        }
    }
# Requests per terminal or counter code (madoguchi.throttle): registration and pairing codes cannot be guessed by
# trying, and one agent cannot flood the event API.
MADOGUCHI_THROTTLE_RATES = {
    "register": env.str("MADOGUCHI_THROTTLE_REGISTER", default="10/m"),
    "pair": env.str("MADOGUCHI_THROTTLE_PAIR", default="10/m"),
    "agent_event": env.str("MADOGUCHI_THROTTLE_AGENT_EVENTS", default="1200/m"),
}

# --- Object storage (integrations.storage) ------------------------------------------------------------
OBJECT_STORAGE = {
    "BACKEND": env.str("OBJECT_STORAGE_BACKEND", default="local"),  # "local" or "s3"
    "LOCAL_ROOT": env.str("OBJECT_STORAGE_LOCAL_ROOT", default=str(VAR_DIR / "objects")),
    "BUCKET": env.str("OBJECT_STORAGE_BUCKET", default="madoguchi"),
    "ENDPOINT_URL": env.str("OBJECT_STORAGE_ENDPOINT_URL", default="") or None,
    "REGION": env.str("OBJECT_STORAGE_REGION", default="ap-northeast-1"),
}
INBOUND_PREFIX = env.str("MADOGUCHI_INBOUND_PREFIX", default="inbound/")
OUTBOUND_PREFIX = env.str("MADOGUCHI_OUTBOUND_PREFIX", default="outbound/")
# The outbox (integrations.outbound): a flush is queued once this many rows wait (besides the beat schedule,
# MADOGUCHI_EXPORT_FLUSH_SECONDS); a batch holds at most MADOGUCHI_EXPORT_BATCH_MAX receptions' rows.
MADOGUCHI_EXPORT_FLUSH_ROWS = env.int("MADOGUCHI_EXPORT_FLUSH_ROWS", default=200)
MADOGUCHI_EXPORT_BATCH_MAX = env.int("MADOGUCHI_EXPORT_BATCH_MAX", default=5000)
# AES-256 key (base64 of 32 random bytes) for values stored only encrypted (madoguchi.fieldcrypt). Empty: derived
# from DJANGO_SECRET_KEY (the embedded default; check --deploy warns).
MADOGUCHI_DATA_KEY = env.str("MADOGUCHI_DATA_KEY", default="")
# Backups (madoguchi/operations, docs/operations.md): their key (base64 of 32 random bytes; derived from SECRET_KEY
# when unset) and where in object storage they go (how long: MADOGUCHI_BACKUP_KEEP_DAYS, under Retention).
MADOGUCHI_BACKUP_KEY = env.str("MADOGUCHI_BACKUP_KEY", default="")
MADOGUCHI_BACKUP_PREFIX = env.str("MADOGUCHI_BACKUP_PREFIX", default="backups/")

# --- Domain settings ----------------------------------------------------------------------------------
# M11W2-7 check digit of 宛名番号 / 世帯番号: what a result of 10 becomes differs by city (domain.md §1).
MADOGUCHI_CHECK_DIGIT_TEN = env.str("MADOGUCHI_CHECK_DIGIT_TEN", default="0")
MADOGUCHI_CITY_NAME = env.str("MADOGUCHI_CITY_NAME", default="窓口市")
# The font stack for PDFs: an MJ font must come first or IVS are silently ignored (domain.md §3).
MADOGUCHI_PDF_FONT_FAMILY = env.list("MADOGUCHI_PDF_FONT_FAMILY", default=["IPAmj明朝", "IPAmjMincho"])
MADOGUCHI_GJ_FONT_PATH = env.str("MADOGUCHI_GJ_FONT_PATH", default="")
# GJ characters (MJ+ beyond MJ) are Plane-16 private use: GJnnnnnn → U+100000 + n − 1. The inclusive range the
# city's MJ+ table uses; other Plane-16 code points are rejected. Default: GJ00000001 … GJ00020000.
MADOGUCHI_GJ_RANGE = tuple(int(v, 16) for v in env.list("MADOGUCHI_GJ_RANGE", default=["100000", "104E1F"]))

# --- Counters ---------------------------------------------------------------------------------------
# Seconds without a touch after which the resident tablet clears its screen back to the welcome page.
MADOGUCHI_TABLET_IDLE_SECONDS = env.int("MADOGUCHI_TABLET_IDLE_SECONDS", default=120)

# --- Devices ------------------------------------------------------------------------------------------
# Seconds after which a print job not yet confirmed by its agent is sent again, and how many sends before the
# job is marked failed (the clerk screen then shows 印刷失敗).
MADOGUCHI_PRINT_REDISPATCH_SECONDS = env.int("MADOGUCHI_PRINT_REDISPATCH_SECONDS", default=60)
MADOGUCHI_PRINT_MAX_DISPATCHES = env.int("MADOGUCHI_PRINT_MAX_DISPATCHES", default=10)
# A job waiting for an offline terminal or a broken printer fails (visibly) after this many hours.
MADOGUCHI_PRINT_WAIT_HOURS = env.int("MADOGUCHI_PRINT_WAIT_HOURS", default=8)
# A terminal whose agent sent no heartbeat for this many seconds shows as offline (agents beat every 30 s).
MADOGUCHI_TERMINAL_OFFLINE_SECONDS = env.int("MADOGUCHI_TERMINAL_OFFLINE_SECONDS", default=90)
# How long the ids of processed agent events are kept: an event resent within it is answered, not handled again.
MADOGUCHI_AGENT_EVENT_RETENTION_HOURS = env.int("MADOGUCHI_AGENT_EVENT_RETENTION_HOURS", default=24)

# --- Retention: how long each kind of personal data is kept (madoguchi/operations/retention.py) ---------------
# One beat task (`retention`, hourly) erases each kind when its time is up; `manage.py retention` shows the table.
# A session's signature and card data, hours after the visit (the printed packet holds them by then).
MADOGUCHI_SIGNATURE_RETENTION_HOURS = env.int("MADOGUCHI_SIGNATURE_RETENTION_HOURS", default=24)
# Printed PDFs and receipts, hours after the job finished.
MADOGUCHI_PRINT_RETENTION_HOURS = env.int("MADOGUCHI_PRINT_RETENTION_HOURS", default=24)
# The individual number in the outbox: purged when the core system acknowledges the row, or after this many days.
MADOGUCHI_INDIVIDUAL_NUMBER_RETENTION_DAYS = env.int("MADOGUCHI_INDIVIDUAL_NUMBER_RETENTION_DAYS", default=14)
# A reception's PDF for the core system: kept until its rows are acknowledged, or this many days.
MADOGUCHI_EXPORT_RETENTION_DAYS = env.int("MADOGUCHI_EXPORT_RETENTION_DAYS", default=30)
# Outbox rows (the residents' data as sent), days after their batch was written; 取込エラー rows wait.
MADOGUCHI_EXPORT_ROWS_RETENTION_DAYS = env.int("MADOGUCHI_EXPORT_ROWS_RETENTION_DAYS", default=90)
# What a counter session holds of the resident (宛名番号, answers, form contents), days after it was opened.
MADOGUCHI_SESSION_RETENTION_DAYS = env.int("MADOGUCHI_SESSION_RETENTION_DAYS", default=90)
# Records of logins (card taps, password attempts).
MADOGUCHI_LOGIN_RECORD_RETENTION_DAYS = env.int("MADOGUCHI_LOGIN_RECORD_RETENTION_DAYS", default=90)
# Audit records (5 years by default), purged oldest first behind a signed checkpoint that keeps the rest of the
# hash chain verifiable (madoguchi.audit.services.audit_purge).
MADOGUCHI_AUDIT_RETENTION_DAYS = env.int("MADOGUCHI_AUDIT_RETENTION_DAYS", default=1826)
# Backups in object storage (the newest is always kept).
MADOGUCHI_BACKUP_KEEP_DAYS = env.int("MADOGUCHI_BACKUP_KEEP_DAYS", default=30)

# --- Logging: structured, never personal data --------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("MADOGUCHI_LOG_LEVEL", default="INFO")},
}

# --- HTTP hardening (docs/operations.md § Hardening) ----------------------------------------------------
# The demo serves plain HTTP on the local machine; production sets the DJANGO_SECURE_* variables (.env.example):
# TLS ends at the proxy, which sets X-Forwarded-Proto.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the pages' scripts send the token as X-CSRFToken
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the container health check calls http://127.0.0.1:8000/healthz
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): every script and style is a file of our own, so nothing inline runs; images
# may be data: URLs (the signature, QR codes); no page may be framed, no form posts elsewhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

"""Settings for xiaozhi-hub, read from the environment (see README, "Configuration").

Without DATABASE_URL and REDIS_URL the hub runs in one-process laptop mode:
SQLite in ./data and the in-memory channel layer. With them it runs the
production topology: MySQL, Redis as channel layer and Celery broker.
"""

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from .crypto import encryption_keys_from_env
from .env import (
    env_bool,
    env_database,
    env_int,
    env_list,
    env_rate,
    env_secret,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("HUB_DATA_DIR", str(BASE_DIR / "data")))

DEBUG = env_bool("DEBUG", False)
# Laptop mode (no DATABASE_URL: SQLite in DATA_DIR): every process, `make run` and any
# manage.py command in another terminal, reads the keys `make run` keeps in DATA_DIR.
# Production sets DATABASE_URL and its own keys: there a key file is never looked for,
# and no key is ever generated here.
_laptop_mode = env_str("DATABASE_URL") is None
SECRET_KEY = env_secret(
    "SECRET_KEY", default_file=DATA_DIR / "secret_key" if _laptop_mode else None
)
if SECRET_KEY is None:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off; on a laptop "
            f"(no DATABASE_URL) `make run` creates {DATA_DIR / 'secret_key'}, "
            "which every manage.py command then reads"
        )
    SECRET_KEY = "insecure-debug-only-key"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            f"CSRF_TRUSTED_ORIGINS entries must start with http:// or https://, got {_origin!r}"
        )
# Reverse proxies in front of daphne, each appending to X-Forwarded-For (nginx:
# proxy_add_x_forwarded_for): where the client address for throttling and login
# lockout is read. 0: the connection's own address. (Not daphne --proxy-headers: it
# takes the leftmost entry, which the client chose.)
HUB_PROXY_COUNT = env_int("HUB_PROXY_COUNT", 0, minimum=0)

INSTALLED_APPS = [
    "daphne",  # before staticfiles: its runserver serves ASGI and WebSockets
    "xiaozhi_hub.apps.HubConfig",  # before django.core: overrides `migrate`
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "knox",  # API tokens, stored hashed (xiaozhi_hub/access/tokens.py)
    "django_celery_beat",
    "axes",  # login throttling: failed admin logins lock the username + address out
    "drf_spectacular",  # the OpenAPI schema (/api/schema/, xiaozhi_hub/api_docs.py)
    "drf_spectacular_sidecar",  # Swagger UI's files, served by the hub itself (no CDN)
    "endpoints",
    "chathistory",
    "xiaozhi_hub.access",  # roles over both apps' permissions
    "xiaozhi_hub.notifications",  # channels that tell operators (imports no app)
    "xiaozhi_hub.alerts",  # rules over both apps' data; tells operators via notifications
    "xiaozhi_hub.recall",  # chat history as the assistant's MCP tools (composes both apps)
    "xiaozhi_hub.console",  # last: it depends on both apps, nothing depends on it
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the header switch's cookie, else the browser's Accept-Language
    # (English for the REST API; xiaozhi_hub/locale_middleware.py).
    "xiaozhi_hub.locale_middleware.HubLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "xiaozhi_hub.urls"
ASGI_APPLICATION = "xiaozhi_hub.asgi.application"

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
            ],
        },
    },
]

# --- Databases ---------------------------------------------------------------
DATABASES = {"default": env_database("DATABASE_URL", default_sqlite=DATA_DIR / "hub.sqlite3")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

# The xiaozhi-esp32-server database is read, never written: see routers.py.
SOURCE_DATABASE_ALIAS = "esp32"
_source = env_database("ESP32_DATABASE_URL")
if _source is not None:
    if _source["ENGINE"] != "django.db.backends.mysql":
        raise ImproperlyConfigured("ESP32_DATABASE_URL must be a mysql:// URL")
    _source["OPTIONS"]["init_command"] += "; SET SESSION TRANSACTION READ ONLY"
    DATABASES[SOURCE_DATABASE_ALIAS] = _source
DATABASE_ROUTERS = ["xiaozhi_hub.routers.ReadOnlySourceRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, cache and Celery ----------------------------------
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss"))
REDIS_KEY_PREFIX = env_str("HUB_CHANNEL_PREFIX", "xiaozhi-hub")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": REDIS_KEY_PREFIX,
            },
        }
    }
    # Shared by every web process: the API throttles count one client across all of them.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # One-process mode: tasks run where they are called (see runhub).
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = None
    CELERY_TASK_ALWAYS_EAGER = True
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_TIMEZONE = "UTC"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Write each tick's last_run_at at once (not every 3 minutes): /api/health reads it.
CELERY_BEAT_SYNC_EVERY = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Hub ---------------------------------------------------------------------
HUB_NAME = env_str("HUB_NAME", "xiaozhi-hub")
HUB_SYNC_INTERVAL = env_int("HUB_SYNC_INTERVAL", 30, minimum=1)
HUB_STATUS_INTERVAL = env_int("HUB_STATUS_INTERVAL", 15, minimum=1)
# Seconds each /api/health check may take before it counts as down.
HUB_HEALTH_TIMEOUT = env_int("HUB_HEALTH_TIMEOUT", 3, minimum=1)
# Deepest nesting of arrays/objects accepted in client JSON (REST bodies, reports, console
# frames; xiaozhi_hub/jsonlimits.py). 32 keeps every part storable: MariaDB refuses
# JSON nested deeper than 31 levels.
HUB_JSON_MAX_DEPTH = env_int("HUB_JSON_MAX_DEPTH", 32, minimum=2)

# --- Endpoint pool (endpoints/) -------------------------------------------------
# Run the pool in this process's background runtime (Celery worker, runhub).
HUB_POOL_ENABLED = env_bool("HUB_POOL_ENABLED", True)
# Seconds a worker's claim on an endpoint lasts unless renewed (every TTL/3);
# a dead worker's endpoints are taken over after at most TTL + TTL/3.
HUB_POOL_LEASE_TTL = env_int("HUB_POOL_LEASE_TTL", 15, minimum=2)
# Seconds a starting pool worker waits until no other worker has registered for
# that long, before its first claim, so workers started together share at once
# instead of one claiming everything and giving it back; 0: no wait.
HUB_POOL_SETTLE = env_int("HUB_POOL_SETTLE", 5, minimum=0)
# Seconds between the workers' comparisons of the database with what they run
# (catches edits whose control message was missed).
HUB_POOL_RECONCILE_INTERVAL = env_int("HUB_POOL_RECONCILE_INTERVAL", 2, minimum=1)
# Seconds the web process waits for a worker's answer (check health, probe).
HUB_POOL_CONTROL_TIMEOUT = env_int("HUB_POOL_CONTROL_TIMEOUT", 10, minimum=1)
# Seconds an endpoint's tools/list may wait for upstream servers still doing their
# first listing (a hub or server just started); 0 answers at once.
HUB_FIRST_TOOLS_WAIT = env_int("HUB_FIRST_TOOLS_WAIT", 15, minimum=0)
# Offer the hub's own tools hub__status and hub__echo (connectivity tests) to endpoints.
HUB_BUILTIN_TOOLS = env_bool("HUB_BUILTIN_TOOLS", False)
# What one endpoint's peer can make a worker hold (endpoints/pool/config.py PeerLimits):
# its requests answered at once (more get JSON-RPC -32003 at once, nothing forwarded),
# bytes of replies queued for it, and seconds a reply may wait for room in that queue
# before the peer, which does not read its replies, is disconnected.
HUB_ENDPOINT_MAX_INFLIGHT = env_int("HUB_ENDPOINT_MAX_INFLIGHT", 32, minimum=1)
HUB_ENDPOINT_SEND_QUEUE_BYTES = env_int("HUB_ENDPOINT_SEND_QUEUE_BYTES", 1 << 20, minimum=1024)
HUB_ENDPOINT_SEND_TIMEOUT = env_int("HUB_ENDPOINT_SEND_TIMEOUT", 30, minimum=1)
# Peer profiles (endpoints/pool/config.py PeerProfile). A broker (xiaozhi.me) must send
# `initialize` within this many seconds of connecting (0 = the endpoint's connection
# timeout), and is pinged with MCP `ping` (false: with WebSocket ping frames). A
# self-hosted relay (mcp-endpoint-server) has no deadline and always gets WebSocket pings.
HUB_BROKER_INITIALIZE_TIMEOUT = env_int("HUB_BROKER_INITIALIZE_TIMEOUT", 0, minimum=0)
HUB_BROKER_MCP_PING = env_bool("HUB_BROKER_MCP_PING", True)
# Status-change events kept per endpoint (the health history).
HUB_POOL_EVENTS_KEPT = env_int("HUB_POOL_EVENTS_KEPT", 200, minimum=1)
# The tool-call log (endpoints.ToolCall): rows older than this many days, and the
# oldest beyond this many rows, are deleted by the worker that stores new calls
# (at most once a minute). Arguments and results are cut to this many characters.
HUB_TOOL_LOG_RETENTION_DAYS = env_int("HUB_TOOL_LOG_RETENTION_DAYS", 7, minimum=1)
HUB_TOOL_LOG_MAX_ROWS = env_int("HUB_TOOL_LOG_MAX_ROWS", 100000, minimum=100)
HUB_TOOL_LOG_MAX_CHARS = env_int("HUB_TOOL_LOG_MAX_CHARS", 2000, minimum=100)
# Calls a minute logged one by one per endpoint, tool and outcome; the rest of
# that minute's calls are counted into one sampled row (endpoints/worker/upstream_reports.py).
HUB_TOOL_LOG_RATE = env_int("HUB_TOOL_LOG_RATE", 60, minimum=1)
# Commands a stdio MCP server may run (names as typed, or full paths; exact match).
# Empty: any. Checked whenever a stdio server is saved (admin, REST, config import).
HUB_STDIO_ALLOWED_COMMANDS = env_list("HUB_STDIO_ALLOWED_COMMANDS", [])
# Health history (endpoints/worker/history.py): per-minute and per-hour rollups of
# every endpoint's and MCP server's state and pings, and of the chat sync and report
# ingest, kept this many days. Off: the worker keeps no rollups (the benchmark's baseline).
HUB_HISTORY_ENABLED = env_bool("HUB_HISTORY_ENABLED", True)
HUB_HISTORY_MINUTE_DAYS = env_int("HUB_HISTORY_MINUTE_DAYS", 2, minimum=1)
HUB_HISTORY_HOUR_DAYS = env_int("HUB_HISTORY_HOUR_DAYS", 90, minimum=1)

# --- Notifications (xiaozhi_hub/notifications/, docs/notifications.md) -----------
# The hub's address as operators open it (https://hub.example.com): links in
# notifications are made absolute with it. Empty: they are paths.
HUB_PUBLIC_URL = env_url("HUB_PUBLIC_URL", schemes=("http", "https")) or ""
# Seconds one delivery attempt (an HTTP request, an SMTP session) may take.
HUB_NOTIFY_TIMEOUT = env_int("HUB_NOTIFY_TIMEOUT", 10, minimum=1)
# Seconds before the first retry of a failed delivery, doubled for each next one
# (5 attempts, never more than 10 minutes apart).
HUB_NOTIFY_RETRY_BACKOFF = env_int("HUB_NOTIFY_RETRY_BACKOFF", 15, minimum=1)
# Email channels use Django's mail settings: EMAIL_URL (smtp://user:password@host:25,
# smtp+tls://... for STARTTLS, smtp+ssl://... for TLS) or EMAIL_HOST and the rest.
EMAIL_URL = env_url("EMAIL_URL", schemes=("smtp", "smtp+tls", "smtp+ssl"))
_email = environ.Env.email_url_config(EMAIL_URL) if EMAIL_URL else {}
EMAIL_HOST = _email.get("EMAIL_HOST") or env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT") or env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS") or env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL") or env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = HUB_NOTIFY_TIMEOUT
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "xiaozhi-hub <noreply@localhost>")

# --- Chat history (chathistory/) -------------------------------------------------
# Rows per sync batch (one transaction each), and for a first backfill / full resync.
HUB_SYNC_BATCH_SIZE = env_int("HUB_SYNC_BATCH_SIZE", 100, minimum=1)
HUB_SYNC_BACKFILL_BATCH_SIZE = env_int("HUB_SYNC_BACKFILL_BATCH_SIZE", 10000, minimum=1)
# Seconds a missing source id stays re-checked: longer than any source INSERT transaction.
HUB_SYNC_GAP_GRACE = env_int("HUB_SYNC_GAP_GRACE", 120, minimum=1)
# Seconds after which a sync claim with no heartbeat is considered dead (worker killed).
HUB_SYNC_CLAIM_TIMEOUT = env_int("HUB_SYNC_CLAIM_TIMEOUT", 300, minimum=5)
# Zone of the source's naive DATETIMEs; empty: the source server's own offset.
HUB_SOURCE_TIME_ZONE = env_str("HUB_SOURCE_TIME_ZONE", "")
# Bearer secret of POST /xiaozhi/agent/chat-history/report (the core's server.secret);
# unset: the endpoint answers that ingest is disabled.
HUB_REPORT_SECRET = env_secret("HUB_REPORT_SECRET")
# Keep audioBase64 of reported messages (off: audio is dropped, for privacy).
HUB_KEEP_AUDIO = env_bool("HUB_KEEP_AUDIO", False)
# Seconds between a report's time and its source row's created_at that still match.
HUB_REPORT_MATCH_WINDOW = env_int("HUB_REPORT_MATCH_WINDOW", 10, minimum=0)

# --- manager-api REST sources (chathistory/sources/manager_api.py, docs/manager-api-source.md)
# Seconds per request (connecting: at most 5), and retries of a 429, 5xx or timeout, with
# jittered backoff from 1 s doubling up to BACKOFF_CAP; a longer Retry-After ends the run.
HUB_MANAGER_API_TIMEOUT = env_int("HUB_MANAGER_API_TIMEOUT", 15, minimum=1)
HUB_MANAGER_API_RETRIES = env_int("HUB_MANAGER_API_RETRIES", 3, minimum=0)
HUB_MANAGER_API_BACKOFF = 1.0
HUB_MANAGER_API_BACKOFF_CAP = env_int("HUB_MANAGER_API_BACKOFF_CAP", 30, minimum=1)
HUB_MANAGER_API_RETRY_AFTER_MAX = env_int("HUB_MANAGER_API_RETRY_AFTER_MAX", 60, minimum=0)
# Sessions per listed page, messages per transaction, session fetches in flight.
HUB_MANAGER_API_PAGE_SIZE = env_int("HUB_MANAGER_API_PAGE_SIZE", 100, minimum=1)
HUB_MANAGER_API_BATCH_SIZE = env_int("HUB_MANAGER_API_BATCH_SIZE", 1000, minimum=1)
HUB_MANAGER_API_CONCURRENCY = env_int("HUB_MANAGER_API_CONCURRENCY", 4, minimum=1)
# Every Nth run reads every session page (0: never); the others stop at an unchanged page.
HUB_MANAGER_API_FULL_SCAN_EVERY = env_int("HUB_MANAGER_API_FULL_SCAN_EVERY", 20, minimum=0)
# Seconds before a failed session is fetched again (doubling up to the maximum).
HUB_MANAGER_API_SESSION_RETRY = env_int("HUB_MANAGER_API_SESSION_RETRY", 60, minimum=1)
HUB_MANAGER_API_SESSION_RETRY_MAX = env_int("HUB_MANAGER_API_SESSION_RETRY_MAX", 3600, minimum=1)
# The zone of the API's dates ("+HH:MM" or an IANA name): manager-api prints GMT+8.
HUB_MANAGER_API_TIME_ZONE = env_str("HUB_MANAGER_API_TIME_ZONE", "+08:00")

# When the nightly retention pass's beat entry is created to run (UTC, HH:MM; later edit it
# in the admin under Periodic tasks → chat-history-retention; docs/retention.md).
HUB_RETENTION_TIME = env_str("HUB_RETENTION_TIME", "03:30")

# --- Chat text search (chathistory/search/, docs/search.md) ---------------------------
# Search message text through the n-gram side index (off: plain LIKE scans).
HUB_SEARCH_INDEX = env_bool("HUB_SEARCH_INDEX", True)
# A message is indexed once stored this long (ids commit out of order; younger ones are
# read by every search directly).
HUB_SEARCH_GRACE_SECONDS = env_int("HUB_SEARCH_GRACE_SECONDS", 60, minimum=0)
# Most candidates one search checks one by one (more: a newest-first LIKE scan), and the
# most messages a gram may hold and still drive a search.
HUB_SEARCH_CANDIDATE_LIMIT = env_int("HUB_SEARCH_CANDIDATE_LIMIT", 5000, minimum=1)
HUB_SEARCH_DRIVE_LIMIT = env_int("HUB_SEARCH_DRIVE_LIMIT", 50000, minimum=1)

# --- Chat audio (chathistory/audio/, docs/audio.md) -------------------------------------
# The local folder of the "chat_audio" storage (unless S3 is configured below).
HUB_AUDIO_DIR = env_str("HUB_AUDIO_DIR", str(DATA_DIR / "audio"))
# Larger audio is not kept (a source's LONGBLOB may hold anything): 32 MiB ~ 17 min of WAV.
HUB_AUDIO_MAX_BYTES = env_int("HUB_AUDIO_MAX_BYTES", 32 * 1024 * 1024, minimum=1024)
# S3-compatible storage for chat audio (django-storages, the `s3` extra): on when the
# bucket is set. Objects stay private: the hub serves audio itself, with its permissions.
HUB_AUDIO_S3_BUCKET = env_str("HUB_AUDIO_S3_BUCKET", "")
if HUB_AUDIO_S3_BUCKET:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "chat_audio": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": HUB_AUDIO_S3_BUCKET,
                "endpoint_url": env_str("HUB_AUDIO_S3_ENDPOINT_URL", "") or None,
                "region_name": env_str("HUB_AUDIO_S3_REGION", "") or None,
                "access_key": env_str("HUB_AUDIO_S3_ACCESS_KEY_ID", "") or None,
                "secret_key": env_secret("HUB_AUDIO_S3_SECRET_ACCESS_KEY") or None,
                "location": env_str("HUB_AUDIO_S3_PREFIX", "chat-audio"),
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": True,
            },
        },
    }

# --- Alerts (xiaozhi_hub/alerts/, docs/alerts.md) ---------------------------------
# Seconds between evaluations of the alert rules (the beat entry "alert-rules";
# created with this interval, then edited in the admin like the sync's).
HUB_ALERT_INTERVAL = env_int("HUB_ALERT_INTERVAL", 30, minimum=1)

# --- Live console (xiaozhi_hub/console/) ----------------------------------------
# Which transport the browser uses: auto = WebSocket, SSE after repeated failures.
HUB_CONSOLE_TRANSPORT = (env_str("HUB_CONSOLE_TRANSPORT", "auto") or "auto").lower()
if HUB_CONSOLE_TRANSPORT not in {"auto", "ws", "sse"}:
    raise ImproperlyConfigured(
        f"HUB_CONSOLE_TRANSPORT must be auto, ws or sse, got {HUB_CONSOLE_TRANSPORT!r}"
    )
# Open console connections (WebSocket + SSE) across all web processes sharing Redis.
HUB_CONSOLE_MAX_SUBSCRIBERS = env_int("HUB_CONSOLE_MAX_SUBSCRIBERS", 100, minimum=1)
HUB_CONSOLE_MAX_FRAME_BYTES = env_int("HUB_CONSOLE_MAX_FRAME_BYTES", 65536, minimum=256)
# Per-connection token bucket: sustained frames per second, and the burst allowed.
HUB_CONSOLE_RATE = env_int("HUB_CONSOLE_RATE", 20, minimum=1)
HUB_CONSOLE_BURST = env_int("HUB_CONSOLE_BURST", 40, minimum=1)
# Seconds between server heartbeats, and the silence after which a client is closed.
HUB_CONSOLE_HEARTBEAT_INTERVAL = env_int("HUB_CONSOLE_HEARTBEAT_INTERVAL", 20, minimum=1)
HUB_CONSOLE_HEARTBEAT_TIMEOUT = env_int("HUB_CONSOLE_HEARTBEAT_TIMEOUT", 60, minimum=2)
# Messages in a chat:snapshot (the last N of a device, or of all devices).
HUB_CONSOLE_SNAPSHOT_MESSAGES = env_int("HUB_CONSOLE_SNAPSHOT_MESSAGES", 50, minimum=1)
if REDIS_URL:
    # channels_redis waits 5 s per blocking pop and redis-py 8 gives up reading
    # after 5 s by default: under load the reply loses that race, the read fails
    # and the receiving consumer dies (close 1011). Give reads headroom.
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [{"address": REDIS_URL, "socket_timeout": 30}]

# --- Prometheus metrics (xiaozhi_hub/metrics/, docs/metrics.md) ---------------------
# Record and publish numbers in this process (the workers' pool instrumentation too).
HUB_METRICS_ENABLED = env_bool("HUB_METRICS_ENABLED", True)
# Who may scrape /metrics: `Authorization: Bearer <token>` and/or client addresses in
# these networks; both set: both needed; neither: nobody (403).
HUB_METRICS_TOKEN = env_secret("HUB_METRICS_TOKEN")
if HUB_METRICS_TOKEN is not None and len(HUB_METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("HUB_METRICS_TOKEN must be at least 16 characters long")
HUB_METRICS_ALLOWED_IPS = env_list("HUB_METRICS_ALLOWED_IPS", [])
for _network in HUB_METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"HUB_METRICS_ALLOWED_IPS: {_network!r} is not an address or CIDR network"
        ) from None
# Seconds between a process's publishes of its numbers to Redis; a dead process's
# numbers leave /metrics three intervals after its last publish.
HUB_METRICS_PUBLISH_INTERVAL = env_int("HUB_METRICS_PUBLISH_INTERVAL", 10, minimum=1)

REST_FRAMEWORK = {
    # The token first: DRF answers an anonymous request 401 with the first class's
    # WWW-Authenticate challenge ("Token"); session auth has none (DRF would say 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",  # `Authorization: Token <key>`
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Staff, and the model permissions each view declares (xiaozhi_hub/access/).
    "DEFAULT_PERMISSION_CLASSES": ["xiaozhi_hub.access.permissions.HubPermissions"],
    # Per user (token or session) and, before login, per client address; counted in
    # CACHES. The core's report endpoint is a plain Django view: never throttled.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_rate("HUB_API_THROTTLE_USER", "600/min"),
        "anon": env_rate("HUB_API_THROTTLE_ANON", "60/min"),
    },
    # The client address is the HUB_PROXY_COUNT-th from the right of X-Forwarded-For
    # (0: the connection's own address): a client cannot forge its way out.
    "NUM_PROXIES": HUB_PROXY_COUNT,
    # JSON within HUB_JSON_MAX_DEPTH and DATA_UPLOAD_MAX_MEMORY_SIZE (400 / 413, never a 500).
    "DEFAULT_PARSER_CLASSES": [
        "xiaozhi_hub.parsers.LimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "xiaozhi_hub.parsers.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# The OpenAPI 3 schema of every REST route (docs/api.md); Swagger UI from the sidecar.
SPECTACULAR_SETTINGS = {
    "TITLE": "xiaozhi-hub API",
    "DESCRIPTION": "Endpoint pool, upstream MCP servers and chat history (docs/api.md).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No validator badge: it would load an image from another site (the CSP refuses it).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "PREPROCESSING_HOOKS": ["xiaozhi_hub.api_schema.only_the_rest_api"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "chathistory.api.schema.add_report_endpoint",
        "xiaozhi_hub.api_schema.add_error_responses",
    ],
    # The pool's and the MCP servers' load-balance strategies are one choice set.
    "ENUM_NAME_OVERRIDES": {
        "LoadBalanceStrategyEnum": "endpoints.pool.config.LOAD_BALANCE_STRATEGIES",
        # An endpoint's peer profile as configured (auto too), and as resolved.
        "PeerProfileEnum": "endpoints.pool.config.PEER_PROFILES",
        "ResolvedPeerProfileEnum": "endpoints.pool.config.RESOLVED_PEER_PROFILES",
        # A history bucket's state (up, down, partial, none): one set for every history.
        "BucketStateEnum": "xiaozhi_hub.history.BUCKET_STATES",
    },
}

# --- Secrets at rest and API tokens -------------------------------------------------
# Fernet keys encrypting endpoint URLs, upstream env/headers/URLs in the database, newest
# first (HUB_ENCRYPTION_KEY comma-separated, or HUB_ENCRYPTION_KEY_FILE one a line).
# In laptop mode DATA_DIR/encryption_key (made by `make run`) when neither is set.
# Empty: a key derived from SECRET_KEY, with a warning (xiaozhi_hub/crypto.py).
HUB_ENCRYPTION_KEYS = encryption_keys_from_env(
    "HUB_ENCRYPTION_KEY", default_file=DATA_DIR / "encryption_key" if _laptop_mode else None
)
# Days an API token stays valid; 0: until revoked (tokens are for scripts).
HUB_API_TOKEN_TTL_DAYS = env_int("HUB_API_TOKEN_TTL_DAYS", 0, minimum=0)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=HUB_API_TOKEN_TTL_DAYS) if HUB_API_TOKEN_TTL_DAYS else None,
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# English unless the browser asks for Chinese (Accept-Language: zh-CN picks zh-hans) or
# the header's language switch (set_language, a cookie) chose it. The hub's own
# catalogs are in locale/ (compiled by `make setup`; docs/console.md).
LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Times on pages, in the console and in notifications are shown in this zone (an IANA
# name such as Asia/Shanghai); the database stores UTC.
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Served straight from the apps and static/ by WhiteNoise: no collectstatic step.
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "admin:login"

# --- Login throttling (django-axes) -------------------------------------------------
# Axes first: a locked-out username + address is refused before any password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("HUB_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("HUB_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
# Username and address together: guessing from one address cannot lock the real
# administrator out everywhere else.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "xiaozhi_hub.client_ip.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/login_locked_out.html"

# --- Production profile: HTTPS behind a proxy, headers, Content-Security-Policy ---------
# Set HUB_HTTPS=true only behind a proxy that terminates TLS and sets (overwrites)
# X-Forwarded-Proto: Django then trusts that header to tell https from http.
HUB_HTTPS = env_bool("HUB_HTTPS", False)
if HUB_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = HUB_HTTPS
CSRF_COOKIE_SECURE = HUB_HTTPS
LANGUAGE_COOKIE_SECURE = HUB_HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SAMESITE = "Lax"
# The console's script reads the CSRF cookie to send it back as X-CSRFToken (Django's
# documented pattern); HttpOnly on it would protect nothing (see Django's CSRF docs).
CSRF_COOKIE_HTTPONLY = False
SECURE_SSL_REDIRECT = env_bool("HUB_SSL_REDIRECT", HUB_HTTPS)
# Called over plain HTTP from inside the deployment: the core's reports (docker
# network, or the report mirror), the container healthcheck and Prometheus.
SECURE_REDIRECT_EXEMPT = [r"^xiaozhi/agent/", r"^api/health$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("HUB_HSTS_SECONDS", 31536000 if HUB_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HUB_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("HUB_HSTS_PRELOAD", False)
# Subdomains and the preload list bind the whole domain, not just the hub: that is the
# operator's decision (the two variables above), so `check --deploy` is not to nag.
SILENCED_SYSTEM_CHECKS = [
    *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
    *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere: the console's configuration is a json_script
# (data, not code) read by its static modules. 'self' covers the same-origin WebSocket.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_secrets": {"()": "xiaozhi_hub.masking.MaskSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

"""Vicino settings: one module, read from the environment.

With none of DATABASE_URL / REDIS_URL set, Vicino runs on the *embedded default*: a SQLite file,
Celery tasks executed eagerly in-process and a local-memory cache, so the demo needs no services.
Set them (see docker-compose.yml) for the production-like stack: PostgreSQL, Redis as cache,
Celery broker and result backend.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VICINO_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
#: True when no external service is configured: SQLite, eager tasks, local-memory cache.
EMBEDDED = not DATABASE_URL and not REDIS_URL

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY", "")
    if key:
        return key
    if not EMBEDDED:
        raise ImproperlyConfigured("SECRET_KEY must be set whenever DATABASE_URL or REDIS_URL is set.")
    # Embedded demo only: a random per-checkout key kept out of the repository, never a committed one.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

#: Where the real public datasets live (never copied into the repository).
VICINO_DATA_DIR = Path(os.environ.get("VICINO_DATA_DIR", BASE_DIR.parent / "shared" / "data")).resolve()
#: Trained model artefacts; ModelVersion.artefact_path is relative to it. Never committed (var/ is ignored).
VICINO_MODEL_DIR = Path(os.environ.get("VICINO_MODEL_DIR", BASE_DIR / "var" / "models")).resolve()
#: torch threads per process. Requests and tasks score small batches, and every web and worker process is
#: its own: more than one thread each oversubscribes the cores (a ranker call measured 12× slower with
#: torch's default of one thread per core, on a busy 2-core host).
VICINO_TORCH_THREADS = int(os.environ.get("VICINO_TORCH_THREADS", "1"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.forms",  # the form renderer below finds Django's own widget templates through this app
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_htmx",
    "users",
    "activities",
    "matching",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.middleware.BrowserTimezoneMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "config.context_processors.vicino",
            ],
        },
    },
]

if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "vicino.sqlite3",
            # WAL lets the eager in-process tasks and the dev server read while the seeder writes.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "vicino",
            # JSON, never pickle: nothing is unpickled from the cache.
            "OPTIONS": {"SERIALIZER": "django_redis.serializers.json.JSONSerializer"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "vicino"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Field errors render next to their field, with aria-invalid and aria-describedby (templates/components/).
FORM_RENDERER = "config.forms.VicinoFormRenderer"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# A body larger than this is refused with a 400 that names the body (see config.api.exception_handler).
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 500

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "users.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: DRF's FormParser reads the raw stream without the body-size limit. Pages use Django forms.
    "DEFAULT_PARSER_CLASSES": ["config.parsers.LenientNumberJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["config.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "auth": os.environ.get("VICINO_AUTH_RATE", "20/min"),
        "location": os.environ.get("VICINO_LOCATION_RATE", "120/min"),
        "interactions": os.environ.get("VICINO_INTERACTION_RATE", "60/min"),
        # Per person: enough to scroll and refresh, far too few to map anyone by spoofing positions.
        "nearby": os.environ.get("VICINO_NEARBY_RATE", "30/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vicino API",
    "DESCRIPTION": (
        "Nearby people, activities and invitations. Exact positions of other people never leave the server."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI comes from npm, vendored by scripts/vendor_static.sh: no CDN.
    "SWAGGER_UI_DIST": "/static/vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": "/static/vendor/swagger-ui/favicon-32x32.png",
    # Several "status" fields with different choices: name each enum after what it is.
    "ENUM_NAME_OVERRIDES": {
        "ActivityStatusEnum": "activities.models.ActivityStatus",
        "InvitationStatusEnum": "activities.models.InvitationStatus",
        "CampaignStatusEnum": "matching.campaigns.models.CampaignStatus",
    },
}

# Pages --------------------------------------------------------------------------------------------
#: Map tiles: any XYZ tile server ({z}/{x}/{y}). Pages keep working when tiles cannot load: the map then
#: shows its markers and rings on a plain background and says that the tiles are missing.
VICINO_TILE_URL = os.environ.get("VICINO_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
VICINO_TILE_ATTRIBUTION = os.environ.get(
    "VICINO_TILE_ATTRIBUTION",
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
)


def _map_center(raw: str) -> tuple[float, float]:
    try:
        latitude, longitude = (float(part) for part in raw.split(","))
    except ValueError:
        raise ImproperlyConfigured(f"VICINO_MAP_CENTER must be 'latitude,longitude', got {raw!r}") from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ImproperlyConfigured(f"VICINO_MAP_CENTER is off the globe: {raw!r}")
    return latitude, longitude


#: Where a map opens before a person has shared a location (the demo city's Midtown by default).
VICINO_MAP_CENTER = _map_center(os.environ.get("VICINO_MAP_CENTER", "40.7549,-73.9840"))

# Celery ------------------------------------------------------------------------------------------
#: The longest task may run this long; the broker's visibility timeout must exceed it, or a task
#: acknowledged late would be redelivered to a second worker while the first still runs it.
CELERY_LONGEST_TASK_SECONDS = 60 * 60
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"  # a host silences kombu's "no hostname" warning
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = EMBEDDED
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = CELERY_LONGEST_TASK_SECONDS
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_LONGEST_TASK_SECONDS - 60
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * CELERY_LONGEST_TASK_SECONDS}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * CELERY_LONGEST_TASK_SECONDS}
# A separate queue name lets a test session's worker ignore anything else on the same Redis.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("VICINO_CELERY_QUEUE", "celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "expire-started-invitations": {
        "task": "activities.tasks.invitations_expire",
        "schedule": timedelta(minutes=5),
    },
    "close-finished-activities": {
        "task": "activities.tasks.activities_complete",
        "schedule": crontab(minute="*/15"),
    },
    "experiments-impressions-flush": {
        "task": "matching.tasks.experiments_impressions_flush",
        "schedule": timedelta(minutes=1),
    },
    # Everyone's features as of 03:00 UTC, the quietest hour; fans out in chunks across the workers.
    "features-refresh-all": {
        "task": "matching.tasks.features_refresh_all",
        "schedule": crontab(hour=3, minute=0),
    },
    # A campaign whose build made no progress for VICINO_CAMPAIGN_STALL_SECONDS lost a worker: resume it.
    "campaigns-resume-stalled": {
        "task": "matching.campaigns.tasks.campaigns_resume_stalled",
        "schedule": timedelta(minutes=5),
    },
}
#: A person's events within this many seconds of the first one are folded into one feature refresh,
#: which runs this long after it (matching.services.feature_refresh_schedule).
VICINO_FEATURE_REFRESH_DELAY_SECONDS = int(os.environ.get("VICINO_FEATURE_REFRESH_DELAY_SECONDS", "30"))

# Nearby people (matching.nearby) --------------------------------------------------------------------
#: The blend final = w_d · distance score + w_s · similarity, outside any experiment.
VICINO_NEARBY_DISTANCE_WEIGHT = float(os.environ.get("VICINO_NEARBY_DISTANCE_WEIGHT", "0.6"))
VICINO_NEARBY_SIMILARITY_WEIGHT = float(os.environ.get("VICINO_NEARBY_SIMILARITY_WEIGHT", "0.4"))
VICINO_NEARBY_DEFAULT_RADIUS_KM = float(os.environ.get("VICINO_NEARBY_DEFAULT_RADIUS_KM", "5"))
#: People whose location is older than this are not shown.
VICINO_NEARBY_STALE_HOURS = float(os.environ.get("VICINO_NEARBY_STALE_HOURS", "72"))
#: At most this many candidates are scored per request, nearest first: what bounds a dense area's cost.
VICINO_NEARBY_CANDIDATE_CAP = int(os.environ.get("VICINO_NEARBY_CANDIDATE_CAP", "300"))
#: How long a cell's roster (matching.nearby.rosters) is served from Redis. Hiding, profile and account
#: changes, moves across cells and people coming back apply at once whatever this is; it bounds only how
#: late a dense cell reorders by recency, and a new embedding replaces the profile similarity.
VICINO_NEARBY_ROSTER_SECONDS = float(os.environ.get("VICINO_NEARBY_ROSTER_SECONDS", "60"))


# Invitations -------------------------------------------------------------------------------------
#: Suggestions come from people whose current location lies this close to the activity's venue…
VICINO_INVITATION_RADIUS_KM = float(os.environ.get("VICINO_INVITATION_RADIUS_KM", "10"))
#: … at most this many of them, nearest first, so the cost is bounded in dense areas…
VICINO_INVITATION_CANDIDATE_CAP = int(os.environ.get("VICINO_INVITATION_CANDIDATE_CAP", "2000"))
#: … whose location was updated within this many days.
VICINO_INVITATION_LOCATION_MAX_AGE_DAYS = int(os.environ.get("VICINO_INVITATION_LOCATION_MAX_AGE_DAYS", "30"))
#: Invitations an organiser may send in any 24 hours.
VICINO_INVITATIONS_PER_DAY = int(os.environ.get("VICINO_INVITATIONS_PER_DAY", "100"))
#: Default blend of the suggestion score (experiments may override it per organiser). A component that is
#: not available (no active model) is left out and the others are rescaled to sum to 1.
VICINO_INVITATION_WEIGHTS = {"similarity": 0.4, "acceptance": 0.3, "distance": 0.3}
#: "module.path:callable" that turns the active "acceptance" ModelVersion (DIN/ETA) into a scorer
#: (matching.invitations.ranking.AcceptanceScorer). Empty: suggestions carry no acceptance probability.
VICINO_ACCEPTANCE_SCORER = os.environ.get(
    "VICINO_ACCEPTANCE_SCORER", "matching.ranking.selectors:ranker_acceptance_scorer"
)

# Look-alike campaigns ----------------------------------------------------------------------------
#: Eligible people scored per Celery task of a campaign build.
VICINO_CAMPAIGN_CHUNK_SIZE = int(os.environ.get("VICINO_CAMPAIGN_CHUNK_SIZE", "5000"))
#: A build with no finished chunk for this long is resumed by beat (its worker died).
VICINO_CAMPAIGN_STALL_SECONDS = int(os.environ.get("VICINO_CAMPAIGN_STALL_SECONDS", "600"))

# Security headers that are safe everywhere; HTTPS-only ones are switched on by VICINO_HTTPS.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if env_bool("VICINO_HTTPS", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # In the embedded mode every eager task would log two INFO lines into the command's output.
        "celery.app.trace": {"level": "WARNING" if EMBEDDED else "INFO"},
    },
}

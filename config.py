"""Every setting artproxy reads: its default, its parser and one line saying what it does.

The service reads ``ARTPROXY_<NAME>`` from the environment into ``app.config[NAME]``.
The README's configuration table is printed from ``SETTINGS`` by ``python config.py``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

ENV_PREFIX = "ARTPROXY_"
LONGEST_LIFETIME_SECONDS = 365 * 24 * 3600
T = TypeVar("T", int, float)
PROJECT_DIR = Path(__file__).resolve().parent


class ConfigError(ValueError):
    """A setting has a value artproxy cannot use; raised at startup, never per request."""


def comma_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a whole number above 0")
    return value


def positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a number above 0")
    return value


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def provider_list(raw: str) -> tuple[str, ...]:
    names = comma_list(raw.lower())
    if not names:
        raise ValueError("must name at least one provider")
    if len(set(names)) != len(names):
        raise ValueError("names a provider twice")
    return names


def model_aliases(raw: str) -> dict[str, str]:
    """``name=provider`` pairs, comma-separated; which providers exist is checked at startup
    (generator_client.check_providers)."""
    aliases: dict[str, str] = {}
    for pair in comma_list(raw):
        name, equals, provider = (part.strip() for part in pair.partition("="))
        if not equals or not name or not provider:
            raise ValueError(f"{pair!r} is not name=provider")
        if name in aliases:
            raise ValueError(f"names {name!r} twice")
        aliases[name] = provider.lower()
    return aliases


def quality(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 100:
        raise ValueError("must be a whole number from 1 to 100")
    return value


def port_number(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 65535:
        raise ValueError("must be a port number from 1 to 65535")
    return value


def non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be a whole number, 0 or more")
    return value


def non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be a number, 0 or more")
    return value


def lifetime(raw: str) -> int:
    """Whole seconds above 0 and at most a year."""
    return within_a_year(positive_int(raw))


def optional_lifetime(raw: str) -> float | None:
    """Seconds above 0 and at most a year, or empty for the setting's computed default."""
    return within_a_year(positive_float(raw)) if raw.strip() else None


def within_a_year(seconds: T) -> T:
    # A stored image's name carries its deadline (storage/__init__.py); a lifetime past what
    # the name can hold made images that could be neither served nor swept.
    if not seconds <= LONGEST_LIFETIME_SECONDS:
        raise ValueError(f"must be at most {LONGEST_LIFETIME_SECONDS} (a year)")
    return seconds


def optional_seconds(raw: str) -> float | None:
    """Seconds above 0, or empty for the setting's computed default."""
    return positive_float(raw) if raw.strip() else None


def log_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("text", "json"):
        raise ValueError("must be text or json")
    return value


def storage_kind(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("file", "redis"):
        raise ValueError("must be file or redis")
    return value


def redis_url(raw: str) -> str:
    if urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return raw


def rate_limit(raw: str) -> str:
    """A Flask-Limiter rate such as ``30/minute`` or ``5/second;100/hour``; empty turns it off."""
    if raw.strip():
        from limits import parse_many

        parse_many(raw)  # raises ValueError with its own explanation
    return raw.strip()


def cors_origins(raw: str) -> tuple[str, ...]:
    """Origins are compared as exact strings, so only accept exact origins."""
    origins = comma_list(raw)
    if origins == ("*",):
        return origins
    for origin in origins:
        parts = urlsplit(origin)
        # "scheme://host[:port]" and nothing else: no path, no wildcard, no regex.
        exact = f"{parts.scheme}://{parts.netloc}"
        if parts.scheme not in ("http", "https") or not parts.hostname or origin != exact:
            raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        if any(char in parts.netloc for char in "*\\[]()?$^|+"):
            raise ValueError(f"{origin!r} contains a wildcard or pattern character")
    return origins


def public_url(raw: str) -> str:
    """Empty, or one exact origin such as https://art.example.com."""
    value = raw.strip()
    if not value:
        return ""
    origins = cors_origins(value) if value != "*" else ()
    if len(origins) != 1:
        raise ValueError("must be one address like https://art.example.com")
    return origins[0]


def signin_names(raw: str) -> tuple[str, ...]:
    names = comma_list(raw.lower())
    for name in names:
        if not name.isascii() or not name.isalnum() or not name[0].isalpha():
            raise ValueError(f"{name!r} is not a name of letters and digits, like google")
    if len(set(names)) != len(names):
        raise ValueError("names a provider twice")
    return names


@dataclass(frozen=True)
class SignInClient:
    """How artproxy signs people in with one OpenID Connect provider."""

    name: str
    issuer: str  # its discovery document is at <issuer>/.well-known/openid-configuration
    client_id: str
    client_secret: str = field(repr=False)

    @property
    def label(self) -> str:
        return self.name.capitalize()


def signin_clients(environ: Mapping[str, str], names: tuple[str, ...]) -> dict[str, SignInClient]:
    """ARTPROXY_SIGNIN_<NAME>_ISSUER, _CLIENT_ID and _CLIENT_SECRET of each provider named."""
    clients = {}
    for name in names:
        prefix = f"{ENV_PREFIX}SIGNIN_{name.upper()}_"
        issuer, client_id, secret = (environ.get(prefix + part, "").strip()
                                     for part in ("ISSUER", "CLIENT_ID", "CLIENT_SECRET"))
        if not (issuer and client_id and secret):
            raise ConfigError(f"{ENV_PREFIX}SIGNIN_PROVIDERS names {name}: set {prefix}ISSUER, "
                              f"{prefix}CLIENT_ID and {prefix}CLIENT_SECRET")
        parts = urlsplit(issuer)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{prefix}ISSUER={issuer!r} is not an address like "
                              "https://accounts.google.com")
        clients[name] = SignInClient(name, issuer.rstrip("/"), client_id, secret)
    return clients


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    parse: Callable[[str], Any]
    description: str
    secret: bool = False


def concurrency_setting(provider: str, advice: str = "") -> Setting:
    return Setting(f"{provider.upper()}_CONCURRENCY", 0, non_negative_int,
                   f"Most calls to the `{provider}` provider in flight at once for the whole "
                   f"instance (all its worker processes); more wait their turn within its "
                   f"timeout. 0: no limit.{advice}")


SETTINGS: tuple[Setting, ...] = (
    Setting("PROVIDER", ("magicstudio",), provider_list,
            "Upstreams that draw the images, tried in order: `magicstudio`, `pollinations`, "
            "`horde`, `openai`, `offline` (no network); e.g. `pollinations,magicstudio`."),
    Setting("PROVIDER_FAILURES", 3, positive_int,
            "Failures in a row after which a provider is skipped for PROVIDER_COOLDOWN seconds."),
    Setting("PROVIDER_COOLDOWN", 30.0, positive_float,
            "Seconds a failing provider is skipped before one trial call decides."),
    Setting("MERGE_IDENTICAL_CALLS", True, boolean,
            "Identical upstream calls in flight in one process share one call (the benchmark "
            "turns this off, since its requests are all alike)."),
    Setting("MAGICSTUDIO_URL", "https://ai-api.magicstudio.com/api/ai-art-generator", str,
            "Endpoint the `magicstudio` provider posts prompts to."),
    Setting("MAGICSTUDIO_CLIENT_ID", "", str,
            "`client_id` form field sent upstream; empty picks a random one per process."),
    Setting("POLLINATIONS_URL", "https://image.pollinations.ai/prompt", str,
            "Endpoint the `pollinations` provider asks; the prompt is appended to its path."),
    Setting("POLLINATIONS_MODEL", "flux", str, "Model the `pollinations` provider asks for."),
    Setting("POLLINATIONS_KEY", "", str,
            "Pollinations API key, sent as `Authorization: Bearer`; needed by the newer base "
            "`https://gen.pollinations.ai/image`.", secret=True),
    Setting("POLLINATIONS_REFERRER", "", str,
            "Your app's registered name or domain, sent as `referrer` (the legacy base gives "
            "registered apps a better tier)."),
    Setting("HORDE_URL", "https://aihorde.net/api", str,
            "Base of AI Horde's API that the `horde` provider calls (`/v2/generate/async` ...)."),
    Setting("HORDE_API_KEY", "0000000000", str,
            "AI Horde API key; the default is the anonymous key (slowest in the queue).",
            secret=True),
    Setting("HORDE_MODELS", (), comma_list,
            "Comma-separated models the Horde may use; empty lets it choose."),
    Setting("HORDE_TIMEOUT", 300.0, positive_float,
            "Seconds a `horde` request may wait in the Horde's queue and draw; past it the "
            "request is withdrawn (jobs are the natural way to call it)."),
    Setting("HORDE_CONTACT", "https://github.com/artproxy/artproxy", str,
            "Contact in the `Client-Agent` header (`artproxy:<version>:<contact>`) the Horde "
            "asks of every client: set your own (a URL or an email) so its operators can reach "
            "you."),
    Setting("HORDE_IMAGE_HOSTS", (".r2.cloudflarestorage.com",), comma_list,
            "Host name endings a Horde image URL may have, besides the Horde's own host; "
            "others are refused and never fetched."),
    *(concurrency_setting(name) for name in ("magicstudio", "horde", "openai")),
    concurrency_setting("pollinations", " Anonymous Pollinations takes one call per address: 1."),
    Setting("OPENAI_API_KEY", "", str,
            "API key for the `openai` provider (required when it is chosen).", secret=True),
    Setting("OPENAI_BASE_URL", "https://api.openai.com/v1", str,
            "Base URL of OpenAI's API, or of any server that speaks it."),
    Setting("OPENAI_MODEL", "gpt-image-1", str, "Image model the `openai` provider asks for."),
    Setting("MODEL_ALIASES", {}, model_aliases,
            "`/v1` model names routed to one provider, e.g. `dall-e-3=pollinations,"
            "gpt-image-1=openai`; other names use the whole chain."),
    Setting("STRICT_MODELS", False, boolean,
            "`/v1` answers 404 `model_not_found` for a model that is neither artproxy's "
            "(`artproxy`, a provider, an alias) nor one of OpenAI's image models; off, any name "
            "uses the chain."),
    Setting("OFFLINE_DELAY", 0.0, non_negative_float,
            "Seconds the `offline` provider takes per picture, to show progress as a real upstream "
            "would (demos, tests)."),
    Setting("UPSTREAM_TIMEOUT", 60.0, positive_float,
            "Seconds the upstream may take to answer in full (read timeout and overall deadline)."),
    Setting("UPSTREAM_CONNECT_TIMEOUT", 5.0, positive_float,
            "Seconds allowed to open the connection to the upstream."),
    Setting("MAX_UPSTREAM_BYTES", 20 * 1024 * 1024, positive_int,
            "Largest upstream answer accepted, in bytes; longer ones are a bad upstream image."),
    Setting("MAX_IMAGE_PIXELS", 4096 * 4096, positive_int,
            "Largest image accepted from the upstream, in pixels (decompression-bomb guard)."),
    Setting("LOSSY_QUALITY", 90, quality,
            "Quality (1-100) of `format=webp` and `format=jpeg` images."),
    Setting("MAX_IMAGES_PER_REQUEST", 4, positive_int,
            "Most images one OpenAI-style request may ask for (`n`); each counts against the "
            "rate limit."),
    Setting("MAX_PROMPT_CHARS", 1000, positive_int,
            "Longest prompt accepted; longer prompts get 400 without calling the upstream."),
    Setting("IMAGE_DIR", "images", str,
            "Folder that holds stored images, relative to main.py's folder (created if missing)."),
    Setting("STATE_DIR", "state", str,
            "Folder for what an instance's worker processes share with file storage (rate-limit "
            "counters, jobs), relative to main.py's folder."),
    Setting("DATABASE_URL", "", str,
            "Where accounts are kept: a SQLAlchemy URL such as "
            "`postgresql://user:password@host:5432/artproxy` (several instances share one); empty: "
            "the SQLite file `accounts.sqlite` in STATE_DIR.", secret=True),
    Setting("SIGNIN_PROVIDERS", (), signin_names,
            "Comma-separated names of OpenID Connect providers people sign in with, e.g. "
            "`google,microsoft`; each needs `ARTPROXY_SIGNIN_<NAME>_ISSUER`, `_CLIENT_ID` and "
            "`_CLIENT_SECRET`. Empty: no accounts (and no database is touched)."),
    Setting("SESSION_DAYS", 30, positive_int,
            "Days a signed-in browser stays signed in, unless it signs out."),
    Setting("SIGNUP_CREDITS", 50, non_negative_int,
            "Credits a new account starts with; each image an account makes spends one."),
    Setting("REFERRAL_CREDITS", 20, non_negative_int,
            "Credits a new account signed up through a referral link, and the account that "
            "referred it, each get once."),
    Setting("HISTORY_DAYS", 30, positive_int,
            "Days an account's history keeps each generation (prompt, options, when)."),
    Setting("IMAGE_TTL", 120, lifetime,
            "Seconds a stored image lives, fixed when it is created."),
    Setting("SWEEP_INTERVAL", 1.0, positive_float,
            "Seconds between sweeps that delete expired files from disk."),
    Setting("SWEEP_ENABLED", True, boolean,
            "Run the expiry sweeper in this process (turn off only if another process sweeps)."),
    Setting("JOB_CONCURRENCY", 4, positive_int,
            "Jobs (`POST /jobs`) running at once: per instance with file storage, per "
            "`python main.py worker` process with Redis."),
    Setting("MAX_QUEUED_JOBS", 1000, positive_int,
            "Jobs that may wait to run; beyond it `POST /jobs` answers 503 with Retry-After."),
    Setting("MAX_JOBS_PER_CLIENT", 10, positive_int,
            "Jobs one client (its address, or its key when keys are set) may have queued or "
            "running at once; beyond it `POST /jobs` answers 429, and other clients are not "
            "affected."),
    Setting("JOB_TIMEOUT", None, optional_seconds,
            "Seconds a job may run before it is stopped and failed; empty: each provider's "
            "timeout in PROVIDER (UPSTREAM_TIMEOUT, HORDE_TIMEOUT for `horde`) added up, plus 30."),
    Setting("RUN_JOBS", True, boolean,
            "With file storage, run queued jobs in the server's own worker processes (turn off "
            "to leave them to `python main.py worker`). With Redis only workers run jobs."),
    Setting("CORS_ORIGINS", (), cors_origins,
            "Comma-separated exact origins allowed to call the API from a browser; `*` allows any; "
            "empty allows none."),
    Setting("EMBED_ORIGINS", None, cors_origins,
            "Exact origins whose pages may embed stored images (`<img>`), told by the "
            "`Referer` browsers send; `*` allows any. Unset: `CORS_ORIGINS`, or `*` while that "
            "is empty."),
    Setting("EMBED_REQUIRE_REFERER", False, boolean,
            "Refuse stored images to requests without a `Referer` (privacy settings strip it, "
            "so some visitors of allowed pages are refused too)."),
    Setting("PROMPT_URLS", True, boolean,
            "Serve `GET /prompt/<prompt>`: the picture itself at a URL made of the prompt, for "
            "`<img src>`, cached; off, the route answers 404."),
    Setting("PROMPT_CACHE_SECONDS", None, optional_lifetime,
            "Seconds a picture drawn for a `/prompt/...` URL is kept and served again to the same "
            "URL; empty: IMAGE_TTL."),
    Setting("PUBLIC_URL", "", public_url,
            "The address people reach artproxy at by name, e.g. `https://art.example.com`: its "
            "own pages call it from there. Addresses by number and `localhost` need no setting; "
            "another name is taken for a stranger's (DNS rebinding)."),
    Setting("PREMIUM_KEYS", (), comma_list,
            "Comma-separated API keys for `/image`; empty leaves `/image` open to everyone.",
            secret=True),
    Setting("SECRET_KEY", "", str,
            "Signs delete tokens; set the same value on every instance so tokens work on all of "
            "them and after a restart (empty: a new secret each start).", secret=True),
    Setting("ADMIN_KEYS", (), comma_list,
            "Comma-separated keys for `/admin/*` (list and delete stored images); empty turns "
            "`/admin` off.", secret=True),
    Setting("KEY_QUOTA", "", rate_limit,
            "Images each premium key may make, e.g. `200/day`, across `/image` and `/v1` "
            "(n images count n); empty is no quota."),
    Setting("STORAGE", "file", storage_kind,
            "Where images live: `file` (IMAGE_DIR, one machine) or `redis` (shared by instances)."),
    Setting("REDIS_URL", "redis://127.0.0.1:6379/0", redis_url,
            "Redis for `STORAGE=redis`, and for rate limits shared between instances.",
            secret=True),
    Setting("REDIS_PREFIX", "artproxy:", str,
            "Start of every Redis key artproxy writes, so several services can share one Redis."),
    Setting("REDIS_HOT_IMAGES_MB", 32, non_negative_int,
            "Megabytes of recently served images each worker process keeps in memory with "
            "`STORAGE=redis`, so a popular picture is not fetched from Redis for every request; "
            "Redis is still asked whether it exists before each answer. 0 turns it off."),
    Setting("AUTH_FAILURE_LIMIT", "20/minute", rate_limit,
            "Wrong keys one client may present on keyed routes (`/image`, `/jobs`, `/v1`, "
            "`/quota`, `/admin`, `/metrics`) before every key it sends is refused with 429 "
            "until the window ends; empty is no limit."),
    Setting("RATE_LIMIT", "", rate_limit,
            "Requests per client IP on `/generate` and `/image`, e.g. `30/minute`; empty is off."),
    Setting("CLIENT_TIMEOUT", 20.0, positive_float,
            "Seconds a client may leave each read or write of its connection waiting before it "
            "is dropped, so one that never reads its answer cannot hold the memory."),
    Setting("STREAM_KEEPALIVE", 10.0, positive_float,
            "Seconds between the comments a `/v1` event stream sends while it waits, so proxies "
            "that cut idle connections keep it open."),
    Setting("METRICS", True, boolean,
            "Serve Prometheus metrics at `/metrics`, counted for all worker processes."),
    Setting("METRICS_KEY", "", str,
            "Key `/metrics` asks for (`Authorization: Bearer <key>`); empty leaves it open to "
            "whoever reaches it.", secret=True),
    Setting("LOG_FORMAT", "text", log_format,
            "`text`, or `json` for one JSON object per log line; each line of a request carries "
            "its X-Request-ID."),
    Setting("TRUSTED_PROXIES", 0, non_negative_int,
            "Proxies in front that set X-Forwarded-For; 0 trusts none and uses the peer address."),
)

# Read by main.py, not by the app: the conventional unprefixed names hosting platforms set.
SERVER_SETTINGS: tuple[Setting, ...] = (
    Setting("HOST", "127.0.0.1", str, "Address `python main.py` listens on."),
    Setting("PORT", 5000, port_number, "Port `python main.py` listens on."),
)


def defaults() -> dict[str, Any]:
    # SIGNIN: each of SIGNIN_PROVIDERS with its ARTPROXY_SIGNIN_<NAME>_* (load() reads them).
    return {**{setting.name: setting.default for setting in SETTINGS}, "SIGNIN": {}}


def load(environ: Mapping[str, str]) -> dict[str, Any]:
    """Every setting: the ``ARTPROXY_*`` variable that sets it, else its default; ConfigError
    naming the first bad one."""
    settings = {**defaults(), **from_environment(environ)}
    settings["SIGNIN"] = signin_clients(environ, settings["SIGNIN_PROVIDERS"])
    return settings


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Parse every ``ARTPROXY_*`` variable that is set; raise ConfigError naming the bad one."""
    values = {}
    for setting in SETTINGS:
        raw = environ.get(ENV_PREFIX + setting.name)
        if raw is not None:
            values[setting.name] = parse_setting(setting, raw, ENV_PREFIX + setting.name)
    return values


def server_address(environ: Mapping[str, str]) -> tuple[str, int]:
    host, port = (
        parse_setting(setting, environ[setting.name], setting.name)
        if setting.name in environ else setting.default
        for setting in SERVER_SETTINGS
    )
    return host, port


def parse_setting(setting: Setting, raw: str, variable: str) -> Any:
    try:
        return setting.parse(raw)
    except ValueError as error:
        if setting.secret:  # the parser's message may quote the value
            raise ConfigError(f"{variable} is not valid (value hidden)") from None
        raise ConfigError(f"{variable}={raw!r} is not valid: {error}") from None


def check_state_folder(settings: Mapping[str, Any]) -> None:
    """ConfigError unless STATE_DIR, where file storage keeps what an instance's processes
    share (rate-limit counters, jobs), can be made and written: a folder that could not turned
    the limits off and failed every job while /healthz said ready. For startup only (main.py,
    gunicorn's master); at run time /healthz answers for it."""
    if settings["STORAGE"] != "file":
        return
    folder = project_path(settings["STATE_DIR"])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-") as probe:
            probe.write(b"artproxy")
            probe.flush()
    except OSError as error:
        raise ConfigError(f"ARTPROXY_STATE_DIR={settings['STATE_DIR']!r} cannot be written: "
                          f"{error.strerror or error}") from None


def job_timeout_seconds(settings: Mapping[str, Any]) -> float:
    """JOB_TIMEOUT, or as long as a drawing may take."""
    if settings["JOB_TIMEOUT"] is not None:
        return settings["JOB_TIMEOUT"]
    return drawing_seconds(settings)


def drawing_seconds(settings: Mapping[str, Any]) -> float:
    """The longest one picture may take: every provider of the fallback chain using its whole
    timeout, and room to finish the picture."""
    return sum(provider_timeout(settings, name) for name in settings["PROVIDER"]) + 30


def provider_timeout(settings: Mapping[str, Any], name: str) -> float:
    """How long the provider called ``name`` may take: the Horde queues, the others answer."""
    return settings["HORDE_TIMEOUT"] if name == "horde" else settings["UPSTREAM_TIMEOUT"]


def prompt_cache_seconds(settings: Mapping[str, Any]) -> float:
    """PROMPT_CACHE_SECONDS, or as long as any stored image lives."""
    if settings["PROMPT_CACHE_SECONDS"] is not None:
        return settings["PROMPT_CACHE_SECONDS"]
    return settings["IMAGE_TTL"]


def request_line_bytes(max_prompt_chars: int) -> int:
    """The longest request line a prompt of ``max_prompt_chars`` characters can need.

    A character is at most 4 bytes of UTF-8, each percent-encoded as 3: 12 bytes; 4 KiB more
    covers the method, the path, the other parameters and the HTTP version."""
    return 12 * max_prompt_chars + 4096


def project_path(raw: str | Path) -> Path:
    """A folder setting as an absolute path; relative ones are relative to main.py's folder."""
    return PROJECT_DIR / raw


def summary(settings: Mapping[str, Any]) -> str:
    """One line saying what is active, for the startup log; never a secret's value."""
    origins = settings["CORS_ORIGINS"]
    keys = settings["PREMIUM_KEYS"]
    return (f"provider={','.join(settings['PROVIDER'])} storage={settings['STORAGE']} "
            f"cors_origins={','.join(origins) if origins else 'none'} "
            f"premium_keys={f'{len(keys)} set' if keys else 'off (/image is open to everyone)'} "
            f"rate_limit={settings['RATE_LIMIT'] or 'off'} "
            f"trusted_proxies={settings['TRUSTED_PROXIES']}")


def load_env_file(path: Path) -> None:
    """Read KEY=value lines from ``path`` into the environment; variables already set win."""
    if path.is_file():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)


def shown_default(default: Any) -> str:
    """A default as a user would type it in the environment."""
    if isinstance(default, bool):
        return str(default).lower()
    if default is None:
        return ""
    if isinstance(default, tuple):
        return ",".join(default)
    if isinstance(default, dict):
        return ",".join(f"{name}={value}" for name, value in default.items())
    return str(default)


def markdown_table() -> str:
    rows = ["| Variable | Default | What it does |", "| --- | --- | --- |"]
    for prefix, settings in ((ENV_PREFIX, SETTINGS), ("", SERVER_SETTINGS)):
        for setting in settings:
            rows.append(f"| `{prefix}{setting.name}` | `{shown_default(setting.default)}` "
                        f"| {setting.description} |")
    return "\n".join(rows).replace("``", "(empty)")


if __name__ == "__main__":
    print(markdown_table())

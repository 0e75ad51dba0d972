"""Named failures, each with the HTTP status it means and a stable machine-readable code.

    ArtproxyError                 500 internal_error
    ├── BadInput                  400 bad_input
    │   ├── BadPrompt             400 invalid_prompt
    │   ├── BadImage              400 invalid_image
    │   ├── BadOption             400 invalid_<option>, unknown_style, ...
    │   ├── VariationsUnsupported 400 variations_unsupported
    │   └── SignInFailed          400 signin_failed
    ├── Unauthorized              401 unauthorized
    ├── NoCredits                 402 no_credits
    ├── OriginNotAllowed          403 origin_not_allowed
    ├── CrossSiteRequest          403 csrf
    ├── EmbedNotAllowed           403 embed_not_allowed
    ├── InvalidDeleteToken        403 invalid_delete_token
    ├── ImageNotFound             404 image_not_found
    ├── NotCached                 404 not_cached
    ├── JobNotFound               404 job_not_found
    ├── AccountNotFound           404 account_not_found
    ├── KeyNotFound               404 key_not_found
    ├── ModelNotFound             404 model_not_found
    ├── RateLimited               429 rate_limited
    ├── StorageUnavailable        503 storage_unavailable
    │   └── StorageFull           507 storage_full
    ├── ServerBusy                503 server_busy
    ├── QueueFull                 503 queue_full
    ├── JobRunnerLost             503 job_runner_lost
    ├── JobTimedOut               504 job_timeout
    ├── SignInUnavailable         502 signin_provider_unreachable
    ├── FailedMomentsAgo          the status and code of a drawing that just failed
    └── UpstreamError             502 upstream_failed
        ├── UpstreamUnavailable   502 upstream_unreachable
        ├── UpstreamRejected      502 upstream_rejected
        │   └── UpstreamCensored  502 upstream_censored
        ├── BadUpstreamImage      502 bad_upstream_image
        ├── UpstreamFaulted       502 upstream_faulted
        ├── UpstreamBusy          503 upstream_busy
        ├── ProviderSkipped       503 upstream_resting
        └── UpstreamTimeout       504 upstream_timeout

The domain raises these with ``raise ... from cause`` so logs keep what really failed
(logs.log_failure); the web layer renders them (web/errors.py) and never shows the cause to the
caller. No Flask here, and no import of artproxy's own.
"""

from __future__ import annotations


class ArtproxyError(Exception):
    """A failure with a status code, a stable code and a sentence fit to show the caller."""

    status_code = 500
    code = "internal_error"
    message = "Internal server error"
    retry_after_seconds: int | None = None  # set by failures the caller should retry later
    said_once_a_minute = False  # True for a refusal that repeats on every request while it lasts

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message

    def headers(self) -> dict[str, str]:
        if self.retry_after_seconds is None:
            return {}
        return {"Retry-After": str(self.retry_after_seconds)}


class BadInput(ArtproxyError):
    status_code = 400
    code = "bad_input"
    message = "The request is not valid"

    def __init__(self, message: str | None = None, param: str | None = None):
        super().__init__(message)
        self.param = param  # the input at fault, when there is one


class BadImage(BadInput):
    """An image the caller sent (an edit's image or mask) cannot be used."""

    code = "invalid_image"


class BadPrompt(BadInput):
    code = "invalid_prompt"


class VariationsUnsupported(BadInput):
    """/v1/images/variations when no configured provider draws variations."""

    code = "variations_unsupported"


class BadOption(BadInput):
    """One image option is not valid; ``code`` says which and how, for clients to act on."""

    def __init__(self, code: str, message: str, param: str | None = None):
        super().__init__(message, param)
        self.code = code


class Unauthorized(ArtproxyError):
    status_code = 401
    code = "unauthorized"
    message = ("A valid API key is required: send 'Authorization: Bearer <key>' or "
               "'X-API-Key: <key>'")

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="artproxy"'}


class SignInFailed(BadInput):
    """A sign-in's return from its provider cannot be trusted or used (state, nonce, token)."""

    code = "signin_failed"
    message = "The sign-in could not be completed; start it again"


class NoCredits(ArtproxyError):
    status_code = 402
    code = "no_credits"
    message = "This account has no credits left: each image costs one"


class CrossSiteRequest(ArtproxyError):
    """A signed-in browser's cookie came with a change asked for by another site's page."""

    status_code = 403
    code = "csrf"
    message = ("A signed-in browser may change things only from artproxy's own pages; "
               "programs send one of the account's keys instead")


class OriginNotAllowed(ArtproxyError):
    status_code = 403
    code = "origin_not_allowed"
    message = "This origin may not call artproxy; add it to ARTPROXY_CORS_ORIGINS"


class EmbedNotAllowed(ArtproxyError):
    status_code = 403
    code = "embed_not_allowed"
    message = ("Pages on this site may not embed artproxy's images; add its origin to "
               "ARTPROXY_EMBED_ORIGINS")


class InvalidDeleteToken(ArtproxyError):
    status_code = 403
    code = "invalid_delete_token"
    message = "X-Delete-Token is missing or does not belong to this image"


class ImageNotFound(ArtproxyError):
    status_code = 404
    code = "image_not_found"
    message = "Image not found or expired"


class NotCached(ArtproxyError):
    status_code = 404
    code = "not_cached"
    message = "Nothing is cached for this URL yet: a GET draws it (HEAD never does)"


class JobNotFound(ArtproxyError):
    status_code = 404
    code = "job_not_found"
    message = "Job not found or expired"


class AccountNotFound(ArtproxyError):
    status_code = 404
    code = "account_not_found"
    message = "No such account"


class KeyNotFound(ArtproxyError):
    status_code = 404
    code = "key_not_found"
    message = "This account has no such key"


class ModelNotFound(ArtproxyError):
    """/v1 with ARTPROXY_STRICT_MODELS: a model that is neither artproxy's nor OpenAI's."""

    status_code = 404
    code = "model_not_found"
    message = "The model does not exist"
    param = "model"


class RateLimited(ArtproxyError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after_seconds: int, message: str | None = None):
        super().__init__(message or "Too many requests; try again later")
        self.retry_after_seconds = retry_after_seconds


class StorageUnavailable(ArtproxyError):
    status_code = 503
    code = "storage_unavailable"
    message = "Image storage is unavailable; try again shortly"
    retry_after_seconds = 5


class StorageFull(StorageUnavailable):
    status_code = 507
    code = "storage_full"
    message = "Image storage is full; try again later"
    retry_after_seconds = 30


class ServerBusy(ArtproxyError):
    status_code = 503
    code = "server_busy"
    message = "artproxy is too busy to take this request; try again shortly"
    retry_after_seconds = 5


class QueueFull(ArtproxyError):
    status_code = 503
    code = "queue_full"
    said_once_a_minute = True
    message = "Too many jobs are waiting (ARTPROXY_MAX_QUEUED_JOBS); try again shortly"
    retry_after_seconds = 10


class JobRunnerLost(ArtproxyError):
    """A job's runner stopped (killed, crashed) before it finished; the job ends failed."""

    status_code = 503
    code = "job_runner_lost"
    message = "The process running this job stopped before it finished; create the job again"


class JobTimedOut(ArtproxyError):
    status_code = 504
    code = "job_timeout"
    message = "The job ran longer than ARTPROXY_JOB_TIMEOUT and was stopped"


class FailedMomentsAgo(ArtproxyError):
    """The same picture failed to be drawn moments ago (prompt URLs): that failure again,
    without calling the upstream again."""

    said_once_a_minute = True  # the first failure was logged with its cause

    def __init__(self, status_code: int, code: str, retry_after_seconds: int):
        super().__init__("This picture could not be drawn moments ago; try again in a few "
                         "seconds")
        self.status_code = status_code
        self.code = code
        self.retry_after_seconds = retry_after_seconds


class SignInUnavailable(ArtproxyError):
    """The sign-in provider could not be reached, or answered with a fault of its own."""

    status_code = 502
    code = "signin_provider_unreachable"
    message = "The sign-in provider could not be reached; try again shortly"


class UpstreamError(ArtproxyError):
    """The image generator failed; never the caller's fault, never ours."""

    status_code = 502
    code = "upstream_failed"
    message = "The image generator failed"


class UpstreamUnavailable(UpstreamError):
    code = "upstream_unreachable"
    message = "The image generator could not be reached"


class UpstreamRejected(UpstreamError):
    code = "upstream_rejected"
    message = "The image generator refused the request"


class BadUpstreamImage(UpstreamError):
    code = "bad_upstream_image"
    message = "The image generator did not return a usable image"


class UpstreamFaulted(UpstreamError):
    code = "upstream_faulted"
    message = "The image generator's workers failed to draw the picture"


class UpstreamCensored(UpstreamRejected):
    """The prompt's fault, not the upstream's health: like a refusal, it rests no breaker."""

    code = "upstream_censored"
    message = "The image generator withheld the picture as unsafe; try another prompt"


class UpstreamBusy(UpstreamError):
    status_code = 503
    code = "upstream_busy"
    message = "The image generator is busy; try again later"

    def __init__(self, retry_after_seconds: int, message: str | None = None):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ProviderSkipped(UpstreamError):
    """A provider's circuit breaker is open (providers/breaker.py): the upstream was not called.
    Come back when it may be tried again."""

    status_code = 503
    code = "upstream_resting"

    def __init__(self, name: str, retry_after_seconds: int):
        super().__init__(f"The image generator {name} is resting after repeated failures")
        self.retry_after_seconds = retry_after_seconds


class UpstreamTimeout(UpstreamError):
    status_code = 504
    code = "upstream_timeout"
    message = "The image generator took too long to answer"

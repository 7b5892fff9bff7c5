"""Turning failures into actionable, secret-free messages.

The SDK's handshake exception carries the request headers (the api-key among them) in its repr, and aiohttp
logs URLs and headers at debug level. Everything here is about never letting those reach a user or a log.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

from .events import ErrorCategory, ErrorRaised
from .modes import Mode

_HEADER_PATTERNS = (
    re.compile(r"(?i)(api[-_]?key['\"]?\s*[:=]\s*['\"]?)([^'\"\s,}]+)"),
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?bearer\s+)([^'\"\s,}]+)"),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/=-]{8,})"),
)
_REDACTED = "***"


class SecretRegistry:
    """Remembers every secret the program has held so any text can be scrubbed of it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        """Register a secret; short strings are ignored so that scrubbing does not mangle ordinary words."""
        if secret and len(secret) >= 4:
            with self._lock:
                self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        """Return ``text`` with every known secret and every credential-looking header value replaced."""
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, _REDACTED)
        for pattern in _HEADER_PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + _REDACTED, text)
        return text


SECRETS = SecretRegistry()


class ScrubbingFilter(logging.Filter):
    """A logging filter that formats each record once and scrubs it; install it on every handler."""

    def __init__(self, registry: SecretRegistry = SECRETS) -> None:
        super().__init__()
        self._registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks repeat the exception's repr, headers included: keep only a scrubbed one-liner.
            exc = record.exc_info[1]
            message = f"{message} ({type(exc).__name__}: {exc})"
            record.exc_info = None
            record.exc_text = None
        record.msg = self._registry.scrub(message)
        record.args = None
        return True


def install_log_scrubbing(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Put the scrubbing filter on the given handlers, or on every handler of the root logger."""
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        if not any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            handler.addFilter(ScrubbingFilter())


#: Errors that a correct client can still meet through no fault of its own, and that change nothing for the
#: user: a cancel that crossed the response's own end on the wire.
HARMLESS_ERROR_CODES = frozenset({"response_cancel_not_active"})

#: "Foundry User" is the new name of "Azure AI User"; the id is the same under either name, so commands that
#: use it work wherever the rename has or has not reached.
FOUNDRY_USER_ROLE = "Foundry User (formerly Azure AI User)"
FOUNDRY_USER_ROLE_ID = "53ca6127-db72-4b80-b1b0-d745d6d5456d"


def _role_fix_commands() -> str:
    return (
        f"In BYOM chat-completion mode the Foundry resource calls your deployment with its own identity. Give "
        f'the resource\'s system-assigned managed identity the "{FOUNDRY_USER_ROLE}" role on the resource:\n'
        "  az resource update --ids <resource-id> --set identity.type=SystemAssigned\n"
        "  az role assignment create --assignee-object-id "
        "$(az resource show --ids <resource-id> --query identity.principalId -o tsv) "
        f"--assignee-principal-type ServicePrincipal --role {FOUNDRY_USER_ROLE_ID} --scope <resource-id>\n"
        "You, the signed-in user, need the same role on the resource:\n"
        "  az role assignment create --assignee $(az ad signed-in-user show --query id -o tsv) "
        f"--role {FOUNDRY_USER_ROLE_ID} --scope <resource-id>"
    )


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date instead of seconds: let the backoff decide


def for_http_status(
    status: int,
    *,
    mode: Mode,
    using_entra: bool,
    deployment: str,
    error_code: str | None = None,
    retry_after: str | None = None,
) -> ErrorRaised:
    """The message for a handshake the service refused with ``status``."""
    code = f" ({error_code})" if error_code else ""
    if status == 401:
        how = (
            "Sign in again (az login) or pick another sign-in method in Settings."
            if using_entra
            else "Check the API key in Settings: copy Key 1 from the resource's Keys and Endpoint page."
        )
        return ErrorRaised(
            ErrorCategory.BAD_CREDENTIALS, f"The service rejected the credentials (401){code}. {how}", error_code
        )
    if status == 403:
        if mode is Mode.BYOM_CHAT_COMPLETION and using_entra:
            return ErrorRaised(
                ErrorCategory.FORBIDDEN,
                "Access denied (403) in BYOM chat-completion mode with Microsoft Entra ID. " + _role_fix_commands(),
                error_code,
            )
        return ErrorRaised(
            ErrorCategory.FORBIDDEN,
            f'Access denied (403){code}. Your identity needs the "{FOUNDRY_USER_ROLE}" role '
            f"(role id {FOUNDRY_USER_ROLE_ID}) on the resource, or the resource's network rules block this machine.",
            error_code,
        )
    if status == 404:
        return ErrorRaised(
            ErrorCategory.DEPLOYMENT_NOT_FOUND,
            f"No deployment named {deployment!r} for {mode.label}{code}. Check the deployment name in your "
            "Foundry resource, or pick another in the deployment box.",
            error_code,
        )
    if status == 429:
        wait = _seconds(retry_after)
        when = f"in {wait:.0f} s" if wait is not None else "shortly"
        return ErrorRaised(
            ErrorCategory.THROTTLED,
            f"Too many requests (429){code}. The app tries again {when}; raising the deployment's quota helps.",
            error_code,
            wait,
        )
    if 400 <= status < 500:
        return ErrorRaised(
            ErrorCategory.REFUSED,
            f"The service refused the connection ({status}){code}. Check the mode, the api-version (Settings > "
            "Connection) and the endpoint URL.",
            error_code,
        )
    return ErrorRaised(
        ErrorCategory.SERVICE,
        f"The service failed to open the session ({status}){code}. The app tries again shortly.",
        error_code,
        _seconds(retry_after),
    )


def for_close(code: int, reason: str) -> ErrorRaised:
    """The message for a connection the service (or the network) ended."""
    reason = SECRETS.scrub(reason)
    if code == 1001 or "expired" in reason.lower():
        return ErrorRaised(
            ErrorCategory.SESSION_EXPIRED,
            f"The session expired (close code {code}). The conversation is kept; reconnecting (or press Connect).",
        )
    detail = f": {reason}" if reason else ""
    return ErrorRaised(
        ErrorCategory.CONNECTION_LOST,
        f"The connection was lost (close code {code}{detail}). The conversation is kept; reconnecting (or press "
        "Connect).",
    )


def for_service_error(code: str | None, message: str) -> ErrorRaised:
    """The message for an ``error`` event the service sent during a session."""
    message = SECRETS.scrub(message)
    lowered = (code or "").lower()
    if "deploymentnotfound" in lowered or "model_not_found" in lowered:
        return ErrorRaised(ErrorCategory.DEPLOYMENT_NOT_FOUND, f"{message} Pick another deployment.", code)
    if "rate_limit" in lowered or "throttl" in lowered:
        return ErrorRaised(ErrorCategory.THROTTLED, f"{message} Wait a moment and try again.", code)
    if lowered == "session_expired":
        return ErrorRaised(
            ErrorCategory.SESSION_EXPIRED,
            "The session reached its time limit; reconnecting, the conversation is kept.",
            code,
        )
    suffix = f" ({code})" if code else ""
    return ErrorRaised(ErrorCategory.SERVICE, f"The service reported an error{suffix}: {message}", code)


def for_warning(code: str | None, message: str) -> ErrorRaised:
    """A ``warning`` event: the session goes on, but the user should know (e.g. a setting was not applied)."""
    suffix = f" ({code})" if code else ""
    return ErrorRaised(ErrorCategory.WARNING, f"The service warns{suffix}: {SECRETS.scrub(message)}", code)


INTERRUPTED = "Interrupted"
"""Why an answer stopped early when the user cut it off (spoke, or sent something, while it was due)."""


def describe_cut(status: str, reason: str, detail: str, retry_after_s: float | None = None) -> str:
    """Why an answer stopped early, in a few words for its chat bubble (empty for a completed answer).

    Args:
        status: the response's status (cancelled, failed, incomplete).
        reason: the service's reason or error code.
        detail: the service's message, if any.
        retry_after_s: how long the service's rate limit lasts, when known.
    """
    lowered = reason.lower()
    if status == "completed":
        return ""
    if status == "cancelled":
        return INTERRUPTED
    if "content_filter" in lowered:
        return "Stopped: content filter"
    if "max_output_tokens" in lowered:
        return "Stopped: the answer reached its length limit (max output tokens)"
    if "rate_limit" in lowered or "throttl" in lowered or "quota" in lowered:
        named = re.search(r"try again in (\d+(?:\.\d+)?) ?s", detail, re.IGNORECASE)
        retry_after_s = retry_after_s or (float(named.group(1)) if named else None)
        wait = f": try again in {retry_after_s:.0f} s" if retry_after_s else ": try again shortly"
        return f"Rate limit reached{wait}"
    if any(word in lowered for word in ("forbidden", "permission", "unauthorized", "auth")):
        return (
            f"Failed: the deployment refused the resource's identity ({reason}). Give the Foundry resource's "
            f'managed identity the "{FOUNDRY_USER_ROLE}" role (Settings > Connection explains how)'
        )
    said = f": {SECRETS.scrub(detail)}" if detail else ""
    return f"Failed ({reason or status}){said}"

"""What goes on the wire, and a bug report's worth of context, Qt-free and without a secret in it.

Connection details show the exact websocket URL (api-version, profile, model), the sign-in method, the session
id, the SDK and app versions and the region the service names. "Copy diagnostics" adds the settings in use and
the last log lines. Keys and tokens never appear: the settings file holds none, the URL carries none, and the
log lines pass through the same scrubbing as the log itself.
"""

from __future__ import annotations

import collections
import logging
import platform
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import __version__
from .settings import Settings, to_plain
from .voicelive.errors import SECRETS

if TYPE_CHECKING:  # the log ring is set up before the first paint: the SDK loads only after it
    from .voicelive.session import VoiceLiveSession

LOG_LINES = 200


class LogRing(logging.Handler):
    """Keeps the last ``size`` log lines, scrubbed, for "Copy diagnostics"."""

    def __init__(self, size: int = LOG_LINES) -> None:
        super().__init__(logging.DEBUG)
        self.lines: collections.deque[str] = collections.deque(maxlen=size)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(SECRETS.scrub(self.format(record)))
        except Exception:
            self.handleError(record)


#: The app's log ring (the composition root puts it on the root logger).
LOG_RING = LogRing()


@dataclass(frozen=True)
class Detail:
    """One line of the connection details."""

    label: str
    value: str


def _version(package: str) -> str:
    from importlib import metadata  # only when a report is written: about 12 ms, kept off the first paint

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def connection_details(session: VoiceLiveSession | None, settings: Settings, *, demo: bool) -> list[Detail]:
    """What the app sends and talks to now."""
    details = [
        Detail("App", f"voicelive-desktop {__version__}"),
        Detail("SDK", f"azure-ai-voicelive {_version('azure-ai-voicelive')}"),
    ]
    if session is None:
        details.append(Detail("Connection", "not connected"))
        return details
    target = session.target
    details += [
        Detail("URL", target.url()),
        Detail("api-version", target.version),
        Detail("Mode", f"{target.mode.label}" + (f" (profile={target.mode.profile})" if target.mode.profile else "")),
        Detail("Deployment", target.deployment),
        Detail("Sign-in", "offline demo key" if demo else settings.connection.auth.label),
        Detail("Session id", session.session_id or "(not announced yet)"),
    ]
    if session.region:
        details.append(Detail("Region", session.region))
    if session.expires_at is not None:
        details.append(Detail("Session expires", f"{session.expires_at:.0f} (Unix time)"))
    return details


def diagnostics(details: list[Detail], settings: Settings, log_lines: list[str]) -> str:
    """A bug report's context: the details, the settings in use (no secret is in them), the last log lines."""
    lines = ["# voicelive-desktop diagnostics", ""]
    lines += [f"{d.label}: {d.value}" for d in details]
    lines += ["", f"Python {sys.version.split()[0]} on {platform.platform()}", "", "## Settings in use"]
    for section, values in to_plain(settings).items():
        if section == "window":
            continue  # window geometry: noise
        lines.append(f"[{section}]")
        lines += [f"  {name} = {value!r}" for name, value in values.items()]
    lines += ["", f"## The last {len(log_lines)} log lines", *log_lines]
    return SECRETS.scrub("\n".join(lines)) + "\n"

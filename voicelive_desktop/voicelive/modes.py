"""Where a session connects: the mode (managed model or a Bring-Your-Own-Model profile) and deployment."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import urlparse


class Mode(enum.Enum):
    """How Voice Live reaches the model.

    The value is what travels as the ``profile`` query parameter; the managed mode sends none.
    """

    MANAGED = ""
    BYOM_REALTIME = "byom-azure-openai-realtime"
    BYOM_CHAT_COMPLETION = "byom-azure-openai-chat-completion"

    @property
    def profile(self) -> str | None:
        """The ``profile`` query value, or None for a Voice Live managed model."""
        return self.value or None

    @property
    def key(self) -> str:
        """A stable, readable name for settings files: ``managed`` or the profile."""
        return self.value or "managed"

    @classmethod
    def from_key(cls, key: str) -> Mode:
        """The mode stored under ``key`` (see :attr:`key`)."""
        return cls.MANAGED if key in ("managed", "") else cls(key)

    @property
    def label(self) -> str:
        """Short human name, as shown in the mode selector and the status line."""
        return _LABELS[self]

    @property
    def default_deployments(self) -> tuple[str, ...]:
        """Suggestions for the deployment box before the user has typed any of their own."""
        return _DEFAULT_DEPLOYMENTS[self]

    @classmethod
    def from_profile(cls, profile: str | None) -> Mode:
        """Parse a ``profile`` value as given on the command line or in the environment.

        Raises:
            ValueError: with the accepted values, when the profile is not one Voice Live knows.
        """
        if not profile:
            return cls.MANAGED
        for mode in cls:
            if mode.value == profile.strip().lower():
                return mode
        accepted = ", ".join(m.value for m in cls if m.value)
        raise ValueError(f"Unknown Bring-Your-Own-Model profile {profile!r}; use one of: {accepted}")


_LABELS = {
    Mode.MANAGED: "Voice Live model",
    Mode.BYOM_REALTIME: "BYOM realtime",
    Mode.BYOM_CHAT_COMPLETION: "BYOM chat completion",
}

_DEFAULT_DEPLOYMENTS: dict[Mode, tuple[str, ...]] = {
    Mode.MANAGED: (
        "gpt-realtime",
        "gpt-realtime-mini",
        "gpt-4.1",
        "gpt-4o",
        "gpt-5-chat",
        "phi4-mm-realtime",
    ),
    Mode.BYOM_REALTIME: ("gpt-realtime", "gpt-4o-realtime-preview"),
    Mode.BYOM_CHAT_COMPLETION: ("gpt-4.1", "gpt-5-chat", "grok-3"),
}


def deployment_name(name: str) -> str:
    """``name`` stripped; a ValueError that says what to do when it is empty."""
    name = name.strip()
    if not name:
        raise ValueError("The deployment name is empty. Type the name of a model deployment.")
    return name


#: The api-version the Bring-Your-Own-Model how-to names; the emulator and the service both accept it.
DEFAULT_API_VERSION = "2025-10-01"
#: The managed ``azure-realtime`` model needs this api-version or a later one (the Voice Live how-to): it is used
#: for that model unless the user chose a version.
AZURE_REALTIME_API_VERSION = "2026-01-01-preview"
VOICE_LIVE_PATH = "/voice-live/realtime"


@dataclass(frozen=True)
class Target:
    """Everything that decides which websocket URL a session opens.

    Changing any field means a new connection; everything else is a ``session.update``.
    """

    endpoint: str
    mode: Mode
    deployment: str
    api_version: str | None = None

    def __post_init__(self) -> None:
        deployment_name(self.deployment)

    @property
    def version(self) -> str:
        """The api-version this target connects with: the user's choice, else the one the model needs."""
        if self.api_version:
            return self.api_version
        if self.mode is Mode.MANAGED and self.deployment.strip().lower() == "azure-realtime":
            return AZURE_REALTIME_API_VERSION
        return DEFAULT_API_VERSION

    def url(self) -> str:
        """The websocket URL, as the SDK builds it (less its client-name parameter): for connection details."""
        from urllib.parse import urlencode

        parsed = urlparse(self.endpoint.rstrip("/"))
        scheme = {"https": "wss", "http": "ws"}.get(parsed.scheme, parsed.scheme)
        query = urlencode({"api-version": self.version, "model": self.deployment, **self.query})
        return f"{scheme}://{parsed.netloc}{parsed.path}{VOICE_LIVE_PATH}?{query}"

    @property
    def query(self) -> dict[str, str]:
        """Extra query parameters besides ``model`` (which the SDK adds itself)."""
        return {"profile": self.mode.profile} if self.mode.profile else {}

    @property
    def resource(self) -> str:
        """The host the user recognises as their resource, for the status line."""
        host = urlparse(self.endpoint).hostname or self.endpoint
        if host in ("127.0.0.1", "localhost", "::1"):
            return "this computer"  # the built-in emulator, or one run by hand
        return host.split(".", 1)[0] if host.endswith(".azure.com") else host

    def describe(self) -> str:
        """``resource · mode · deployment``, as the connection state shows it."""
        return f"{self.resource} \u00b7 {self.mode.label} \u00b7 {self.deployment}"

"""Typed settings in one place: TOML storage, environment and command-line overrides (the API key: keystore.py).

Precedence: command line > environment > settings file > defaults. What came from the command line or the
environment is used for this run but not written back to the file, unless the user changes it in the app.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import tomli_w

from .files import write_replacing
from .voicelive.auth import AuthMethod
from .voicelive.config import SessionConfig, TurnDetectionConfig, TurnMode
from .voicelive.modes import Mode, deployment_name

log = logging.getLogger(__name__)

APP_NAME = "voicelive-desktop"


@dataclass
class ConnectionSettings:
    """Where to connect and how to sign in."""

    endpoint: str = ""
    auth: AuthMethod = AuthMethod.API_KEY
    api_version: str = ""  # empty: DEFAULT_API_VERSION, the one the Bring-Your-Own-Model documentation names
    tenant_id: str = ""


@dataclass
class ModelSettings:
    """Which model answers and how it speaks."""

    mode: Mode = Mode.MANAGED
    deployments: dict[str, str] = field(default_factory=dict)  # mode key -> last deployment used
    recent: dict[str, list[str]] = field(default_factory=dict)  # mode key -> names used before, newest first
    voice: str = "en-US-Ava:DragonHDLatestNeural"
    instructions: str = "You are a helpful, concise voice assistant."
    temperature: float | None = None
    transcription_model: str = ""  # empty: the model family's own (whisper-1 for realtime, azure-speech else)
    transcription_language: str = ""

    def deployment_for(self, mode: Mode) -> str:
        """The deployment last used in ``mode``, else that mode's first suggestion."""
        return self.deployments.get(mode.key) or mode.default_deployments[0]

    def remember(self, mode: Mode, deployment: str) -> None:
        """Make ``deployment`` the current and most recent one for ``mode``."""
        self.deployments[mode.key] = deployment
        names = [deployment, *(n for n in self.recent.get(mode.key, []) if n != deployment)]
        self.recent[mode.key] = names[:12]

    def choices_for(self, mode: Mode) -> list[str]:
        """Names for the deployment box: the user's own first, then the mode's suggestions."""
        own = self.recent.get(mode.key, [])
        return [*own, *(n for n in mode.default_deployments if n not in own)]


@dataclass
class ConversationSettings:
    """Who ends a turn, and the service's audio processing."""

    turn_mode: TurnMode = TurnMode.PUSH_TO_TALK
    vad_threshold: float = 0.5
    vad_silence_ms: int = 500
    vad_prefix_ms: int = 300
    noise_suppression: bool = True
    echo_cancellation: bool = True

    @property
    def hands_free(self) -> bool:
        """The service ends turns by itself (its voice detection), not the hold key."""
        return self.turn_mode is not TurnMode.PUSH_TO_TALK


@dataclass
class AudioSettings:
    """Devices (by name; empty follows the system default) and the capture timing."""

    input_device: str = ""
    output_device: str = ""
    preroll_ms: int = 300
    tail_ms: int = 200
    # The microphone's block (the speaker's is capped at 10 ms: barge-in). 50 ms, the Voice Live quickstart's, wakes
    # the app and appends 20 times a second, 2.5 times fewer than 20 ms blocks; the price: the release tail ends on a
    # block boundary (within half a block of tail_ms), and hands-free, the service hears the end of speech half a
    # block later on average, about 15 ms more than with 20 ms blocks.
    block_ms: int = 50
    keep_mic_open: bool = True
    input_rate: int = 24000  # what the microphone sends: 24000, or 16000 to halve the upload


@dataclass
class KeySettings:
    """The hold-to-talk keys, as Qt names them (``QKeySequence`` text): in the window, and anywhere."""

    hold_key: str = "Space"
    global_key: str = "F9"  # claimed by no desktop; held while another application has the focus
    global_key_enabled: bool = True


@dataclass
class DesktopSettings:
    """How the app lives on the desktop: the tray, notifications, start-up."""

    close_to_tray: bool = False
    notify_when_hidden: bool = True  # an answer's first words as a notification while the window is hidden
    start_minimized: bool = False
    start_at_login: bool = False
    slow_byom_hint_dismissed: bool = False


@dataclass
class HistorySettings:
    """What happens to conversations between runs."""

    resume_last: bool = True  # the last conversation comes back at launch (False: start fresh)


@dataclass
class WindowSettings:
    """Window geometry, as Qt's saveGeometry() in hex."""

    geometry: str = ""


@dataclass
class Settings:
    """Everything the user can set."""

    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    conversation: ConversationSettings = field(default_factory=ConversationSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    keys: KeySettings = field(default_factory=KeySettings)
    desktop: DesktopSettings = field(default_factory=DesktopSettings)
    history: HistorySettings = field(default_factory=HistorySettings)
    window: WindowSettings = field(default_factory=WindowSettings)

    @property
    def deployment(self) -> str:
        """The deployment of the current mode."""
        return self.model.deployment_for(self.model.mode)

    def session_config(self) -> SessionConfig:
        """What ``session.update`` carries for these settings."""
        c, m = self.conversation, self.model
        return SessionConfig(
            instructions=m.instructions,
            voice=m.voice,
            temperature=m.temperature,
            transcription_model=m.transcription_model,
            transcription_language=m.transcription_language,
            turn_detection=TurnDetectionConfig(c.turn_mode, c.vad_threshold, c.vad_prefix_ms, c.vad_silence_ms),
            noise_suppression=c.noise_suppression,
            echo_cancellation=c.echo_cancellation,
            input_sample_rate=self.audio.input_rate,
        )

    def copy(self) -> Settings:
        """A deep copy, for a dialog to edit."""
        return _from_dict(to_plain(self), [])


# --------------------------------------------------------------------------- validation
class InvalidSetting(ValueError):
    """A value the user gave cannot be used; the message says why and what to do."""


def validate_endpoint(url: str) -> str:
    """Check an endpoint URL; returns it normalized.

    Raises:
        InvalidSetting: not a URL, not http(s)/ws(s), or cleartext to a host that is not this machine.
    """
    url = url.strip().rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "wss", "http", "ws") or not parsed.hostname:
        raise InvalidSetting(
            f"{url or 'The endpoint'} is not a valid endpoint URL. It looks like "
            "https://<resource>.cognitiveservices.azure.com"
        )
    if parsed.scheme in ("http", "ws") and parsed.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise InvalidSetting(
            f"{parsed.scheme}:// to {parsed.hostname} would send your key in clear text. Use https://, or "
            "http:// only for a service on this machine."
        )
    return url


def validate_deployment(name: str) -> str:
    """Check a deployment name; returns it stripped."""
    try:
        return deployment_name(name)
    except ValueError as exc:
        raise InvalidSetting(str(exc)) from exc


# --------------------------------------------------------------------------- storage adapter
_ENUMS: dict[str, Any] = {"auth": AuthMethod, "mode": Mode.from_key, "turn_mode": TurnMode}
INPUT_RATES = (24000, 16000)  # the PCM16 rates Voice Live accepts from the microphone
#: The values a setting may take, inclusive (the settings dialog offers the same). A file that holds more or less
#: gets the default instead, and says so: a 0 ms microphone block used to spin the app at full CPU.
RANGES: dict[str, tuple[float, float]] = {
    "vad_threshold": (0.0, 1.0),
    "vad_silence_ms": (100, 3000),
    "vad_prefix_ms": (0, 2000),
    "preroll_ms": (0, 1000),
    "tail_ms": (0, 1000),
    "block_ms": (10, 100),
}
#: Settings that must name something (a key): empty text gets the default.
_NOT_EMPTY = frozenset({"hold_key", "global_key"})


def to_plain(settings: Settings) -> dict[str, Any]:
    """The settings as plain TOML-ready values, section by section (what the file holds)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Mode):
            return value.key
        if isinstance(value, AuthMethod | TurnMode):
            return value.value
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    out: dict[str, Any] = {}
    for section in dataclasses.fields(settings):
        values = dataclasses.asdict(getattr(settings, section.name))
        out[section.name] = {k: plain(v) for k, v in values.items() if v is not None}
    return out


def _coerce(name: str, default: Any, raw: Any, annotation: str) -> Any:
    value = _coerce_type(name, default, raw, annotation)
    if name in RANGES:
        low, high = RANGES[name]
        if not low <= value <= high:
            raise ValueError(f"{value:g} is outside {low:g} to {high:g}")
    if name in _NOT_EMPTY and not value.strip():
        raise ValueError("empty")
    return value


def _coerce_type(name: str, default: Any, raw: Any, annotation: str) -> Any:
    if name in _ENUMS:
        return _ENUMS[name](raw)
    if isinstance(default, bool):
        if not isinstance(raw, bool):
            raise TypeError("expected true or false")
        return raw
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise TypeError("expected a whole number")
        if name == "input_rate" and raw not in INPUT_RATES:
            raise ValueError(f"{raw} is not one of {', '.join(map(str, INPUT_RATES))}")
        return raw
    if "float" in annotation:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise TypeError("expected a number")
        return float(raw)
    if isinstance(default, str):
        if not isinstance(raw, str):
            raise TypeError("expected text")
        return raw
    if isinstance(default, dict):
        if not isinstance(raw, dict):
            raise TypeError("expected a table")
        return {str(k): v for k, v in raw.items() if isinstance(v, str | list)}
    return raw


_ABSENT = object()


def without_launch_values(now: Settings, launched: Settings, filed: Settings) -> Settings:
    """``now`` as it is written back: a value the launch (command line, environment) gave, still unchanged in the
    app, is replaced by the file's (``launched`` is what the launch made of ``filed``, the file as it was)."""
    out = now.copy()
    for section in dataclasses.fields(out):
        current, launch, file = (getattr(s, section.name) for s in (out, launched, filed))
        for f in dataclasses.fields(current):
            value, launch_value, file_value = (getattr(s, f.name) for s in (current, launch, file))
            if isinstance(value, dict):  # name by name (a deployment per mode): one may be the launch's only
                setattr(current, f.name, _unlaunched(value, launch_value, file_value))
            elif launch_value != file_value and value == launch_value:
                setattr(current, f.name, file_value)
    return out


def _unlaunched(
    now: Mapping[str, object], launched: Mapping[str, object], filed: Mapping[str, object]
) -> dict[str, object]:
    out: dict[str, object] = {}
    for key in dict.fromkeys([*now, *launched, *filed]):  # in order
        value, launch_value, file_value = (d.get(key, _ABSENT) for d in (now, launched, filed))
        if launch_value != file_value and value == launch_value:
            value = file_value
        if value is not _ABSENT:
            out[key] = value
    return out


#: The settings file's format, saved as its top-level ``format``. Files without one are format 1.
FORMAT = 3


def _upgrade(data: dict[str, Any]) -> None:
    """Bring a file written by an older version up to :data:`FORMAT` (every save writes every setting, so an
    old default in the file is not a choice the user made)."""
    written_as = data.get("format", 1)
    if not isinstance(written_as, int):
        written_as = 1
    audio = data.get("audio")
    if not isinstance(audio, dict):
        return
    old_defaults = {1: 20, 2: 40}  # the microphone block each format saved by default (50 ms since format 3)
    if audio.get("block_ms") == old_defaults.get(written_as):
        audio["block_ms"] = AudioSettings.block_ms


def _from_dict(data: Mapping[str, Any], problems: list[str]) -> Settings:
    settings = Settings()
    for section in dataclasses.fields(settings):
        raw_section = data.get(section.name)
        if raw_section is None:
            continue
        if not isinstance(raw_section, Mapping):
            problems.append(f"[{section.name}] is not a table; defaults used")
            continue
        target = getattr(settings, section.name)
        for f in dataclasses.fields(target):
            if f.name not in raw_section:
                continue
            try:
                value = _coerce(f.name, getattr(target, f.name), raw_section[f.name], str(f.type))
            except (TypeError, ValueError) as exc:
                problems.append(f"{section.name}.{f.name}: {exc}; default used")
                continue
            setattr(target, f.name, value)
    return settings


def _unknown_parts(data: Mapping[str, Any]) -> dict[str, Any]:
    """What the file holds that these settings do not know: sections and keys written by a newer version (or
    by hand). They are written back as they were, so a save here does not take them from that version."""
    known = {name: {f.name for f in dataclasses.fields(section)} for name, section in vars(Settings()).items()}
    unknown: dict[str, Any] = {}
    for name, value in data.items():
        if name == "format":
            continue
        if name not in known:
            unknown[name] = value
        elif isinstance(value, Mapping):
            extra = {key: item for key, item in value.items() if key not in known[name]}
            if extra:
                unknown[name] = extra
    return unknown


def _merge(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _salvage(text: str, problems: list[str]) -> dict[str, Any]:
    """Parse a damaged file section by section, keeping every section that still parses."""
    data: dict[str, Any] = {}
    chunks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip().startswith("[") and chunks[-1]:
            chunks.append([])
        chunks[-1].append(line)
    for chunk in chunks:
        try:
            _merge(data, tomllib.loads("\n".join(chunk)))
        except tomllib.TOMLDecodeError:
            header = chunk[0].strip() if chunk else "?"
            problems.append(f"{header} could not be read; defaults used")
    return data


class SettingsStore:
    """Reads and writes ``settings.toml``; writes are atomic (temporary file, then rename)."""

    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            import platformdirs

            path = Path(platformdirs.user_config_dir(APP_NAME)) / "settings.toml"
        self.path = path
        self.problems: list[str] = []
        self.backup: Path | None = None
        #: The file's ``format`` when a newer version of the app wrote it, else None.
        self.newer_format: int | None = None
        self._unknown: dict[str, Any] = {}

    def load(self) -> Settings:
        """The saved settings; a damaged file is backed up, what is valid is kept, ``problems`` says what not."""
        self.problems = []
        self.newer_format = None
        self._unknown = {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Settings()
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(f"could not read {self.path}: {exc}")
            self._keep_backup()
            return Settings()
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            self.problems.append(f"the file is damaged ({exc})")
            self._keep_backup()
            data = _salvage(text, self.problems)
        written_as = data.get("format")
        if isinstance(written_as, int) and written_as > FORMAT:
            self.newer_format = written_as
        _upgrade(data)
        settings = _from_dict(data, self.problems)
        self._unknown = _unknown_parts(data)
        if self.newer_format and self.backup is None:
            # one copy per newer format, not one per launch: this version may not save before it quits
            self._keep_backup(self.path.with_name(f"{self.path.name}.format{self.newer_format}.bak"))
        if self.problems and self.backup is None:
            self._keep_backup()
        return settings

    def _keep_backup(self, backup: Path | None = None) -> None:
        backup = backup or self.path.with_name(f"{self.path.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
        try:
            if not (backup.exists() and backup.read_bytes() == self.path.read_bytes()):
                shutil.copy2(self.path, backup)
            self.backup = backup
        except OSError as exc:
            log.warning("could not back up %s: %s", self.path, exc)

    def save(self, settings: Settings) -> None:
        """Write atomically: a crash mid-write leaves the previous file intact.

        Each write has a temporary file of its own, so two writes at once (two windows, two threads) cannot
        trip over each other: the last one to finish wins, whole.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        plain = to_plain(settings)
        _merge(plain, self._unknown)
        write_replacing(self.path, tomli_w.dumps({"format": FORMAT, **plain}).encode())

    def describe_problems(self) -> str:
        """One message for the user about a damaged file or one from a newer version, or empty."""
        said = []
        if self.newer_format:
            said.append(
                f"The settings file was saved by a newer version of {APP_NAME} (settings format "
                f"{self.newer_format}; this version knows {FORMAT}): this one uses what it knows and keeps the rest "
                "as it is."
            )
        if self.problems:
            said.append(f"Some settings could not be read and were reset: {'; '.join(self.problems)}.")
        if said and self.backup:
            said.append(f"A copy of the old file is at {self.backup}.")
        return " ".join(said)


# --------------------------------------------------------------------------- overrides
ENV_ENDPOINT = "AZURE_VOICELIVE_ENDPOINT"
ENV_MODEL = "AZURE_VOICELIVE_MODEL"
ENV_VOICE = "AZURE_VOICELIVE_VOICE"
ENV_INSTRUCTIONS = "AZURE_VOICELIVE_INSTRUCTIONS"
ENV_API_KEY = "AZURE_VOICELIVE_API_KEY"
ENV_API_VERSION = "AZURE_VOICELIVE_API_VERSION"
ENV_BYOM = ("AZURE_VOICELIVE_BYOM_MODE", "VOICELIVE_BYOM_MODE")


@dataclass
class Overrides:
    """Values from the command line or the environment (None: not given)."""

    endpoint: str | None = None
    model: str | None = None
    voice: str | None = None
    instructions: str | None = None
    byom: str | None = None
    api_version: str | None = None
    use_token_credential: bool = False
    global_key: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Overrides:
        """Read the ``AZURE_VOICELIVE_*`` variables (empty ones count as unset)."""
        byom = next((env[name] for name in ENV_BYOM if env.get(name)), None)
        return cls(
            endpoint=env.get(ENV_ENDPOINT) or None,
            model=env.get(ENV_MODEL) or None,
            voice=env.get(ENV_VOICE) or None,
            instructions=env.get(ENV_INSTRUCTIONS) or None,
            byom=byom,
            api_version=env.get(ENV_API_VERSION) or None,
        )

    def over(self, lower: Overrides) -> Overrides:
        """These values where given, ``lower``'s elsewhere."""
        merged = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in merged.items():
            if value is None or value is False:
                merged[name] = getattr(lower, name)
        return Overrides(**merged)


def apply_overrides(settings: Settings, overrides: Overrides) -> Settings:
    """A copy of ``settings`` with the overrides applied.

    Raises:
        InvalidSetting: an override cannot be used (bad URL, unknown BYOM mode, empty model).
    """
    result = settings.copy()
    if overrides.endpoint is not None:
        result.connection.endpoint = validate_endpoint(overrides.endpoint)
    if overrides.byom is not None:
        try:
            result.model.mode = Mode.from_profile(overrides.byom)
        except ValueError as exc:
            raise InvalidSetting(str(exc)) from exc
    if overrides.model is not None:
        result.model.remember(result.model.mode, validate_deployment(overrides.model))
    if overrides.voice is not None:
        result.model.voice = overrides.voice
    if overrides.instructions is not None:
        result.model.instructions = overrides.instructions
    if overrides.api_version is not None:
        result.connection.api_version = overrides.api_version
    if overrides.global_key is not None:
        result.keys.global_key, result.keys.global_key_enabled = overrides.global_key, True
    if overrides.use_token_credential and result.connection.auth is AuthMethod.API_KEY:
        result.connection.auth = AuthMethod.ENTRA_DEFAULT
    return result

"""The app's use cases, Qt-free: connect, switch model, apply settings, run the offline demo.

It owns the settings (and their persistence), the secrets, the assistant and the built-in emulator. The
bridge forwards the window's intents here; what happens is reported through the same listener as the
assistant's events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from .assistant import Assistant, AudioOptions
from .assistant_events import UiEvent
from .keystore import NoKeyring, SecretStore
from .settings import InvalidSetting, Settings, SettingsStore, validate_endpoint
from .voicelive.credentials import AuthMethod, CredentialSpec, MissingCredentialError, build_credential
from .voicelive.events import ErrorCategory, ErrorRaised
from .voicelive.modes import Mode, Target

log = logging.getLogger(__name__)

DEMO_API_KEY = "demo"


@dataclass(frozen=True)
class ControllerState:
    """What the header shows besides the connection state."""

    demo: bool
    mode: Mode
    deployment: str
    deployments: tuple[str, ...]
    endpoint: str


@dataclass(frozen=True)
class Notice:
    """Something to tell the user that is not an error (e.g. the key is kept for this session only)."""

    message: str


class Controller:
    """Use cases over settings, secrets, the assistant and the emulator."""

    def __init__(
        self,
        settings: Settings,
        store: SettingsStore | None,
        secrets: SecretStore,
        assistant: Assistant,
        listener: Callable[[UiEvent | ControllerState | Notice], None],
        *,
        api_key_from_env: str | None = None,
        demo: bool = False,
        file_settings: Settings | None = None,
    ) -> None:
        self.settings = settings
        self._file_settings = file_settings or settings.copy()
        self._launch_settings = settings.copy()
        self.store = store
        self.secrets = secrets
        self.assistant = assistant
        self._listener = listener
        self._env_key = api_key_from_env
        self.demo = demo or not settings.connection.endpoint
        self._emulator: object | None = None
        self.key_stored = False  # last known: is an API key stored for the endpoint (for the settings panel)
        self._demo_endpoint = ""

    # ----------------------------------------------------------------- state
    def publish(self) -> None:
        """Tell the window the current mode, deployment, choices and whether this is the demo."""
        m = self.settings.model
        self._listener(
            ControllerState(
                self.demo,
                m.mode,
                self.settings.deployment,
                tuple(m.choices_for(m.mode)),
                self._demo_endpoint if self.demo else self.settings.connection.endpoint,
            )
        )

    def _error(self, category: ErrorCategory, message: str) -> None:
        self._listener(ErrorRaised(category, message))

    async def _api_key(self) -> str | None:
        """The key for the endpoint: from the environment, else the keyring (read off the GUI thread: a
        keyring may be slow, or ask the user to unlock it)."""
        key = self._env_key or await asyncio.to_thread(self.secrets.get, self.settings.connection.endpoint)
        self.key_stored = bool(key)
        return key

    async def can_connect(self) -> bool:
        """An endpoint is set and, for the API-key sign-in, a key is known."""
        conn = self.settings.connection
        if not conn.endpoint:
            return False
        return conn.auth is not AuthMethod.API_KEY or bool(await self._api_key())

    def to_save(self) -> Settings:
        """The settings to write: a value given on the command line or in the environment is not persisted,
        unless the user has changed it since."""
        out = self.settings.copy()
        for section in dataclasses.fields(out):
            now, launch, file = (getattr(s, section.name) for s in (out, self._launch_settings, self._file_settings))
            for f in dataclasses.fields(now):
                overridden = getattr(launch, f.name) != getattr(file, f.name)
                if overridden and getattr(now, f.name) == getattr(launch, f.name):
                    setattr(now, f.name, getattr(file, f.name))
        return out

    async def save(self) -> None:
        """Persist the settings (atomic write, in a worker thread); failures are reported, never raised."""
        if self.store is None:
            return
        try:
            await asyncio.to_thread(self.store.save, self.to_save())
        except OSError as exc:
            self._error(ErrorCategory.CONFIG, f"Settings could not be saved to {self.store.path}: {exc}")

    # ----------------------------------------------------------------- connecting
    async def _ensure_emulator(self) -> str:
        if self._emulator is None:
            from .emulator import Emulator, EmulatorOptions

            emulator = Emulator(EmulatorOptions(api_key=DEMO_API_KEY))
            self._demo_endpoint = await emulator.start()
            self._emulator = emulator
        return self._demo_endpoint

    async def _credential_spec(self) -> CredentialSpec:
        conn = self.settings.connection
        if self.demo:
            return CredentialSpec(AuthMethod.API_KEY, DEMO_API_KEY)
        if conn.auth is AuthMethod.API_KEY:
            return CredentialSpec(AuthMethod.API_KEY, await self._api_key())
        return CredentialSpec(conn.auth, tenant_id=conn.tenant_id or None)

    async def _target(self) -> Target:
        conn, model = self.settings.connection, self.settings.model
        endpoint = await self._ensure_emulator() if self.demo else validate_endpoint(conn.endpoint)
        return Target(endpoint, model.mode, self.settings.deployment, conn.api_version or None)

    async def connect(self, *, switching: bool = False) -> bool:
        """Connect with the current settings (to the emulator in demo mode)."""
        try:
            target = await self._target()
            credential = build_credential(await self._credential_spec())
        except (InvalidSetting, MissingCredentialError, ValueError) as exc:
            self._error(ErrorCategory.CONFIG, str(exc))
            self.publish()
            return False
        self.publish()
        config = self.settings.session_config()
        if switching:
            return await self.assistant.switch(target, credential, config)
        return await self.assistant.connect(target, credential, config)

    async def disconnect(self) -> None:
        """Close the session (the conversation stays)."""
        await self.assistant.disconnect()

    async def select(self, mode: Mode, deployment: str | None) -> bool:
        """The user picked a mode or deployment in the header: remember it, reconnect, keep the conversation.

        ``deployment`` None means the one last used in ``mode``.
        """
        deployment = self.settings.model.deployment_for(mode) if deployment is None else deployment.strip()
        if not deployment:
            self._error(ErrorCategory.CONFIG, "The deployment name is empty. Type the name of a model deployment.")
            return False
        model = self.settings.model
        if mode is model.mode and deployment == self.settings.deployment and self.assistant.connected:
            return True
        model.mode = mode
        model.remember(mode, deployment)
        await self.save()
        return await self.connect(switching=True)

    async def use_demo(self, demo: bool) -> bool:
        """Switch between the offline demo and the configured Azure endpoint."""
        if demo == self.demo:
            return self.assistant.connected
        if not demo and not self.settings.connection.endpoint:
            self._error(ErrorCategory.CONFIG, "No Azure endpoint is set. Open Settings and enter your endpoint.")
            return False
        self.demo = demo
        return await self.connect(switching=True)

    async def apply_settings(self, new: Settings, api_key: str | None = None) -> bool:
        """Take edited settings: live changes by session.update, connection changes by reconnecting."""
        old = self.settings
        if api_key:
            try:
                await asyncio.to_thread(self.secrets.set, new.connection.endpoint, api_key)
            except NoKeyring as exc:
                self.secrets.set_for_session(new.connection.endpoint, api_key)
                self._listener(Notice(str(exc)))
        self.settings = new
        self.assistant.audio = AudioOptions(
            new.audio.input_device or None, new.audio.output_device or None, new.audio.keep_mic_open
        )
        await self._apply_audio(old, new)
        await self.save()
        reconnect = (
            old.connection != new.connection
            or old.model.mode is not new.model.mode
            or old.deployment != new.deployment
            or bool(api_key)
        )
        if self.demo and await self.can_connect():
            self.demo = False  # an endpoint and a credential were confirmed: leave the offline demo
            reconnect = True
        if reconnect or not self.assistant.connected:
            return await self.connect(switching=True)
        if old.session_config() != new.session_config():
            self.assistant.update_config(new.session_config())
        self.publish()
        return True

    async def _apply_audio(self, old: Settings, new: Settings) -> None:
        capture, playback = self.assistant.capture, self.assistant.playback
        if capture is not None:
            capture.preroll_ms, capture.tail_ms = new.audio.preroll_ms, new.audio.tail_ms
            capture.block_ms = new.audio.block_ms
            if capture.rate != new.audio.input_rate:
                capture.set_rate(new.audio.input_rate)
            capture.stream.block_frames = capture.rate * new.audio.block_ms // 1000
            if dataclasses.astuple(old.audio) != dataclasses.astuple(new.audio) and capture.is_open:
                capture.close()
        if playback is not None and old.audio.output_device != new.audio.output_device and playback.is_open:
            playback.close()
        await self.assistant.start_audio()

    async def close(self) -> None:
        """Shut down: session, audio, emulator; then save."""
        await self.assistant.close()
        if self._emulator is not None:
            from .emulator import Emulator

            assert isinstance(self._emulator, Emulator)
            await self._emulator.stop()
            self._emulator = None
        await self.save()

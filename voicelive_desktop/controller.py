"""The app's use cases, Qt-free: connect, switch model, apply settings, run the offline demo, list devices.

It owns the settings (and their persistence) and the secrets, and drives the connection supervisor, the turn
engine (the assistant) and the microphone, which the composition root builds and hands over. The bridge
forwards the window's intents here; what happens is reported through the same listener as the assistant's.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Protocol

from .assistant import Assistant
from .assistant_events import LatencyMeasured, MessageChanged, UiEvent
from .audio.backend import AudioUnavailable
from .audio.capture import Capture
from .audio.playback import Playback
from .conversation.export import export_json, export_markdown
from .conversation.history import AsyncHistory
from .conversation.store import ConversationSummary, HistoryUnavailable, SearchHit
from .conversation.transcript import Conversation, Role
from .diagnostics import LOG_RING, Detail, connection_details, diagnostics
from .files import write_replacing
from .keystore import NoKeyring, SecretStore
from .microphone import AudioOptions, Microphone
from .recorder import HistoryRecorder, restored_conversation
from .settings import (
    InvalidSetting,
    Settings,
    SettingsStore,
    validate_deployment,
    validate_endpoint,
    without_launch_values,
)
from .supervisor import Supervisor
from .tasks import finish
from .voicelive.auth import AuthMethod
from .voicelive.config import SessionConfig
from .voicelive.credentials import CredentialSpec, MissingCredentialError, build_credential
from .voicelive.events import ErrorCategory, ErrorRaised
from .voicelive.families import family_of, fit
from .voicelive.modes import Mode, Target
from .wakeup import SleepDetector

log = logging.getLogger(__name__)

DEMO_API_KEY = "demo"
SLOW_BYOM_MS = 1500  # key up to the first audio
SLOW_BYOM_TURNS = 3
ASYNC_FILTERING_URL = (
    "https://learn.microsoft.com/azure/ai-foundry/openai/concepts/content-streaming#asynchronous-filtering"
)


class DemoService(Protocol):
    """The built-in emulator, as the controller needs it."""

    async def start(self) -> str:
        """Serve; returns the endpoint."""

    async def stop(self) -> None:
        """Stop serving."""

    @property
    def voice_name(self) -> str:
        """What speaks the answers: "espeak-ng", or "tone" without it."""


@dataclass(frozen=True)
class ControllerState:
    """What the header shows besides the connection state."""

    demo: bool
    mode: Mode
    deployment: str
    deployments: tuple[str, ...]


@dataclass(frozen=True)
class Notice:
    """Something to tell the user that is not an error; ``key`` replaces an earlier notice with the same key.

    ``action`` names a one-click remedy the window offers beside it ("demo": use the offline demo). An empty
    ``message`` says that what the notice ``key`` reported is resolved.
    """

    message: str
    key: str = ""
    action: str = ""


@dataclass(frozen=True)
class DeviceChoice:
    """A device the settings panel offers: its stable ``name`` and the ``label`` the user reads."""

    name: str
    label: str


Listener = Callable[[UiEvent | ControllerState | Notice], None]
#: Opens the durable history; its arguments report a problem with the file, and its end.
HistoryOpener = Callable[[Callable[[str], None], Callable[[], None]], Awaitable[AsyncHistory]]
#: Builds the microphone and the speaker from sounddevice and the settings (not opened yet).
AudioBuilder = Callable[[ModuleType, Settings], tuple[Capture, Playback]]
VOICE_ON = "Voice is on: the sound system answered."


class Controller:
    """Use cases over settings, secrets, the supervisor, the assistant and the microphone."""

    def __init__(
        self,
        settings: Settings,
        store: SettingsStore | None,
        secrets: SecretStore,
        *,
        supervisor: Supervisor,
        assistant: Assistant,
        microphone: Microphone | None,
        listener: Listener,
        demo_service: Callable[[], DemoService],
        open_history: HistoryOpener | None = None,
        sounddevice: ModuleType | None = None,
        api_key_from_env: str | None = None,
        demo: bool = False,
        file_settings: Settings | None = None,
    ) -> None:
        self.settings = settings
        self._file_settings = file_settings or settings.copy()
        self._launch_settings = settings.copy()
        self.store = store
        self.secrets = secrets
        self.supervisor = supervisor
        self.assistant = assistant
        self.microphone = microphone
        self._listener = listener
        self._demo_factory = demo_service
        self._open_history = open_history
        self.recorder: HistoryRecorder | None = None
        self._demo: DemoService | None = None
        self._demo_endpoint = ""
        self._sd = sounddevice
        self._env_key = api_key_from_env
        self.demo = demo or not settings.connection.endpoint
        self.key_stored = False  # last known: is an API key stored for the endpoint (for the settings panel)
        self._save_lock = asyncio.Lock()
        self._slow_turns = 0
        self._slow_hint_shown = False
        # The open conversation the user deleted, and the empty one that took its place: Undo reopens the former
        # while the latter is still on screen and empty.
        self._deleted_open: tuple[str, Conversation] | None = None
        assistant.add_listener(self._watch_latency)
        assistant.add_listener(self._clear_outdated_errors)
        self._sleep = SleepDetector(lambda: supervisor.wake(slept=True))
        self._late_audio: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- state
    def publish(self) -> None:
        """Tell the window the current mode, deployment, choices and whether this is the demo."""
        m = self.settings.model
        self._listener(ControllerState(self.demo, m.mode, self.settings.deployment, tuple(m.choices_for(m.mode))))

    def _error(self, category: ErrorCategory, message: str) -> None:
        self._listener(ErrorRaised(category, message))

    async def _api_key(self) -> str | None:
        """The key for the endpoint: from the environment, else the keyring (read off the GUI thread: a
        keyring may be slow, or ask the user to unlock it)."""
        if self._env_key:
            self.key_stored = False  # not looked up (a keyring may ask to be unlocked): the environment's is used
            return self._env_key
        key = await asyncio.to_thread(self.secrets.get, self.settings.connection.endpoint)
        self.key_stored = bool(key)
        return key

    @property
    def key_from_env(self) -> bool:
        """The API key in use comes from the environment (until one is typed in Settings)."""
        return bool(self._env_key)

    async def can_connect(self) -> bool:
        """An endpoint is set and, for the API-key sign-in, a key is known."""
        conn = self.settings.connection
        if not conn.endpoint:
            return False
        return conn.auth is not AuthMethod.API_KEY or bool(await self._api_key())

    def to_save(self) -> Settings:
        """The settings to write: a value given on the command line or in the environment is not persisted,
        unless the user has changed it since."""
        return without_launch_values(self.settings, self._launch_settings, self._file_settings)

    async def save(self) -> None:
        """Persist the settings (atomic write, in a worker thread, one at a time); failures are reported."""
        if self.store is None:
            return
        snapshot = self.to_save()
        async with self._save_lock:
            try:
                await asyncio.to_thread(self.store.save, snapshot)
            except OSError as exc:
                self._error(ErrorCategory.CONFIG, f"Settings could not be saved to {self.store.path}: {exc}")

    # ----------------------------------------------------------------- connecting
    async def _demo_service_endpoint(self) -> str:
        if self._demo is None:
            service = self._demo_factory()
            self._demo_endpoint = await service.start()
            self._demo = service
            notice = demo_voice_notice(service.voice_name)
            log.info("%s", notice.message)
            self._listener(notice)
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
        endpoint = await self._demo_service_endpoint() if self.demo else validate_endpoint(conn.endpoint)
        return Target(endpoint, model.mode, self.settings.deployment, conn.api_version or None)

    async def connect(self) -> bool:
        """Connect with the current settings (to the emulator in demo mode)."""
        try:
            target = await self._target()
            credential = build_credential(await self._credential_spec())
        except InvalidSetting as exc:
            self._listener(Notice(f"{exc} The offline demo works without Azure.", key="connection", action="demo"))
            self.publish()
            return False
        except (MissingCredentialError, ValueError) as exc:
            self._listener(Notice(str(exc), key="connection"))
            self.publish()
            return False
        self.publish()
        config = self._fitted(target)
        return await self.supervisor.connect(target, credential, config)

    def _fitted(self, target: Target) -> SessionConfig:
        """The session configuration for ``target``'s model family; what had to change is told once."""
        fitted = fit(self.settings.session_config(), family_of(target.mode, target.deployment))
        if fitted.changes:
            self._listener(Notice(f"For {target.deployment} the app uses: {'; '.join(fitted.changes)}.", key="fitted"))
        return fitted.config

    async def disconnect(self) -> None:
        """Close the session (the conversation stays)."""
        await self.supervisor.disconnect()

    def retry_now(self) -> None:
        """Reconnect now instead of waiting out the backoff."""
        self.supervisor.retry_now()

    def network_back(self) -> None:
        """The network came back (the desktop says so): reconnect now if waiting to."""
        self.supervisor.wake(slept=False)

    async def select(self, mode: Mode, deployment: str | None, *, from_command_line: bool = False) -> bool:
        """The user picked a mode or deployment in the header: remember it, reconnect, keep the conversation.

        ``deployment`` None means the one last used in ``mode``. ``from_command_line``: a later launch asked for
        it; used for this run, and not written to the settings file (as at the first launch).
        """
        try:
            name = self.settings.model.deployment_for(mode) if deployment is None else validate_deployment(deployment)
        except InvalidSetting as exc:
            self._error(ErrorCategory.CONFIG, str(exc))
            self.publish()
            return False
        model = self.settings.model
        if mode is model.mode and name == self.settings.deployment and self.supervisor.connected:
            return True
        if from_command_line:  # what the file holds now, the user's choices made in the app with it
            self._file_settings = self.to_save()
        model.mode = mode
        model.deployments[mode.key] = name  # the one in use; among the recent names once the service took it
        self._as_launched(from_command_line)
        await self.save()
        connected = await self.connect()
        still_wanted = model.mode is mode and model.deployments.get(mode.key) == name  # not since switched again
        if connected and still_wanted and model.recent.get(mode.key, [])[:1] != [name]:
            model.remember(mode, name)
            self._as_launched(from_command_line)
            self.publish()
            await self.save()
        return connected

    def _as_launched(self, from_command_line: bool) -> None:
        """A later launch's choice of model counts with the launch's own values, which the file does not take
        (see to_save)."""
        if from_command_line:  # only what the command line changed: a choice made in the app is still saved
            model, launch = self.settings.model, self._launch_settings.model
            key = model.mode.key
            launch.mode = model.mode
            launch.deployments = {**launch.deployments, key: model.deployments[key]}
            launch.recent = {**copy.deepcopy(launch.recent), key: list(model.recent.get(key, []))}

    async def use_demo(self) -> bool:
        """Talk to the offline demo (offered when the Azure settings cannot be used)."""
        self.demo = True
        return await self.connect()

    async def apply_settings(self, new: Settings, api_key: str | None = None, *, forget_key: bool = False) -> bool:
        """Take edited settings: live changes by session.update, connection changes by reconnecting.

        ``forget_key`` removes the endpoint's stored API key from the keyring (and this session).
        """
        old = self.settings
        if forget_key:
            await asyncio.to_thread(self.secrets.delete, old.connection.endpoint)
            self.key_stored = False
        if api_key:
            self._env_key = None  # typed in the app: it replaces the environment's for this run
            try:
                await asyncio.to_thread(self.secrets.set, new.connection.endpoint, api_key)
            except NoKeyring as exc:
                self.secrets.set_for_session(new.connection.endpoint, api_key)
                self._listener(Notice(str(exc), key="keyring"))
        self.settings = new
        await self._apply_audio(new)
        await self.save()
        reconnect = (
            old.connection != new.connection
            or old.model.mode is not new.model.mode
            or old.deployment != new.deployment
            or bool(api_key)
        )
        if self.demo and await self.can_connect():
            self.demo = False  # an endpoint and a credential were confirmed: leave the offline demo
            self._listener(Notice("", key="demo-voice"))
            reconnect = True
        if reconnect or not self.supervisor.connected:
            return await self.connect()
        target = self.supervisor.session.target if self.supervisor.session is not None else None
        self.supervisor.update_config(self._fitted(target) if target is not None else new.session_config())
        self.assistant.sync_hands_free()
        self.publish()
        return True

    async def _apply_audio(self, new: Settings) -> None:
        mic = self.microphone
        if mic is None:
            return
        a = new.audio
        if mic.capture is not None:
            mic.capture.preroll_ms, mic.capture.tail_ms = a.preroll_ms, a.tail_ms
            await mic.capture.configure(rate=a.input_rate, block_ms=a.block_ms)
        if mic.playback is not None:
            await mic.playback.configure(block_ms=a.block_ms)
        await mic.apply(audio_options(new))

    async def list_devices(self) -> tuple[list[DeviceChoice], list[DeviceChoice]]:
        """Microphones and speakers, one entry per device (read in a worker thread: it asks the sound server)."""
        sd = self._sd
        if sd is None:
            return [], []
        from .audio.devices import list_devices

        def read() -> tuple[list[DeviceChoice], list[DeviceChoice]]:
            return (
                [DeviceChoice(d.name, d.label) for d in list_devices(sd, "input")],
                [DeviceChoice(d.name, d.label) for d in list_devices(sd, "output")],
            )

        return await asyncio.to_thread(read)

    async def start(self, launch_problem: str = "") -> None:
        """Open the devices and connect (to the emulator in demo mode), after telling what went wrong at launch."""
        if launch_problem:
            self._listener(Notice(launch_problem, key="settings-file"))
        await self._start_history()
        self._sleep.start()
        if self.microphone is not None:
            await self.microphone.start()
        if self.demo or await self.can_connect():
            await self.connect()
        else:
            self.publish()
            self._listener(
                Notice("Not connected yet: open Settings (Ctrl+,) to set your endpoint and sign-in.", key="connection")
            )

    # ----------------------------------------------------------------- history
    async def _start_history(self) -> None:
        """Open the history (off the GUI thread) and bring back the last conversation unless told not to."""
        if self._open_history is None:
            return

        def problem(text: str) -> None:
            self._listener(Notice(text, key="history"))

        def resolved() -> None:
            self._listener(Notice("", key="history"))

        history = await self._open_history(problem, resolved)
        self.recorder = HistoryRecorder(history, self.assistant.conversation.id)
        self.assistant.add_listener(self.recorder)
        if self.settings.history.resume_last:
            try:
                last = await history.last_conversation_id()
            except HistoryUnavailable:  # another program holds the file: said already; a new conversation
                return
            if last is not None:
                await self.open_conversation(last)

    @property
    def history(self) -> AsyncHistory | None:
        """The durable history, once open."""
        return self.recorder.history if self.recorder is not None else None

    async def new_conversation(self) -> None:
        """Start a new conversation: the screen clears, the session starts over with no context."""
        self.assistant.replace_conversation(Conversation())
        self.supervisor.renew()

    async def open_conversation(self, conversation_id: str) -> bool:
        """Continue an earlier conversation: it comes back on screen and is carried into the session."""
        history = self.history
        if history is None:
            return False
        if conversation_id == self.assistant.conversation.id:
            return True  # already on screen (and maybe answering): reloading it would lose what is not saved yet
        try:
            stored = await history.load(conversation_id)
        except HistoryUnavailable as exc:
            self._listener(Notice(str(exc), key="history"))
            return False
        if not stored:
            return False
        conversation = restored_conversation(conversation_id, stored)
        self.assistant.replace_conversation(conversation)
        if self.recorder is not None:
            self.recorder.save_restored(conversation)
        self.supervisor.renew()
        return True

    async def list_conversations(self, query: str = "") -> list[ConversationSummary] | list[SearchHit]:
        """Every conversation, newest first; or, with ``query``, those whose messages match it."""
        history = self.history
        if history is None:
            return []
        try:
            return await (history.search(query) if query.strip() else history.list_conversations())
        except HistoryUnavailable as exc:
            self._listener(Notice(str(exc), key="history"))
            return []

    async def rename_conversation(self, conversation_id: str, title: str) -> None:
        """Give a conversation its own title (empty: back to its first words)."""
        if self.history is not None:
            await self.history.rename(conversation_id, title)

    async def delete_conversation(self, conversation_id: str, *, undo: bool = False) -> None:
        """Delete a conversation (kept until the app closes, so that it can be undone); ``undo`` restores it."""
        history = self.history
        if history is None:
            return
        await (history.restore(conversation_id) if undo else history.delete(conversation_id))
        if undo:
            deleted, self._deleted_open = self._deleted_open, None
            if deleted is not None and deleted[0] == conversation_id:
                replacement = deleted[1]
                if replacement is self.assistant.conversation and not replacement.messages:
                    await self.open_conversation(conversation_id)  # back on screen, as it was
        elif conversation_id == self.assistant.conversation.id:
            await self.new_conversation()
            self._deleted_open = (conversation_id, self.assistant.conversation)

    async def export(self, fmt: str, conversation_ids: list[str] | None = None) -> str:
        """One conversation, several, or all of them (None) as Markdown ("md") or JSON ("json")."""
        history = self.history
        if history is None:
            return ""
        if self.recorder is not None:
            self.recorder.flush()
        return await history.call(export_json if fmt == "json" else export_markdown, conversation_ids)

    async def _export_text(self, fmt: str, conversation_ids: list[str] | None) -> str | None:
        try:
            return await self.export(fmt, conversation_ids)
        except HistoryUnavailable as exc:
            self._error(ErrorCategory.CONFIG, f"Nothing was exported: {exc}")
            return None

    def _watch_latency(self, event: UiEvent) -> None:
        """Three slow BYOM turns in a row: say once what the BYOM documentation advises."""
        if not isinstance(event, LatencyMeasured) or self._slow_hint_shown:
            return
        session = self.supervisor.session
        if session is None or session.target.mode is Mode.MANAGED or self.settings.desktop.slow_byom_hint_dismissed:
            return
        self._slow_turns = self._slow_turns + 1 if event.ms > SLOW_BYOM_MS else 0
        if self._slow_turns >= SLOW_BYOM_TURNS:
            self._slow_hint_shown = True
            self._listener(
                Notice(
                    f"Answers from {session.target.deployment} take over {SLOW_BYOM_MS / 1000:g} s to start. The "
                    "Voice Live BYOM documentation advises asynchronous content filtering on the Azure OpenAI "
                    f"deployment to cut this latency: {ASYNC_FILTERING_URL}",
                    key="slow-byom",
                    action="hide-hint",
                )
            )

    def _clear_outdated_errors(self, event: UiEvent) -> None:
        """A turn that went well takes down the banner about one that did not: words were heard (so "Nothing was
        heard" no longer holds), an answer came whole (so "The answer was cut short" is over)."""
        if not isinstance(event, MessageChanged) or not event.message.final or not event.message.text:
            return
        message = event.message
        if message.role is Role.USER and message.spoken:
            self._listener(Notice("", key=ErrorCategory.NOTHING_HEARD.value))
        elif message.role is Role.ASSISTANT and not message.cut:
            self._listener(Notice("", key=ErrorCategory.ANSWER_CUT.value))

    async def dismiss_hint(self) -> None:
        """ "Don't show again" on the slow BYOM hint: for good."""
        self.settings.desktop.slow_byom_hint_dismissed = True
        await self.save()

    def connection_details(self) -> list[Detail]:
        """What goes on the wire now (Help > Connection details)."""
        return connection_details(self.supervisor.session, self.settings, demo=self.demo)

    def diagnostics(self) -> str:
        """The connection details, the settings in use and the last log lines, scrubbed (Copy diagnostics)."""
        return diagnostics(self.connection_details(), self.settings, list(LOG_RING.lines))

    async def export_to(self, path: Path, fmt: str, *, current_only: bool) -> bool:
        """Write an export to ``path`` (in a worker thread); the user is told where it went, or why not."""
        text = await self._export_text(fmt, [self.assistant.conversation.id] if current_only else None)
        if text is None:
            return False
        try:
            await asyncio.to_thread(write_replacing, path, text.encode("utf-8"))  # an earlier export survives a failure
        except OSError as exc:
            self._listener(Notice("", key="export"))  # an earlier "exported to" is not the news any more
            self._error(ErrorCategory.CONFIG, f"The export could not be written to {path}: {exc.strerror or exc}")
            return False
        what = "This conversation was" if current_only else "All conversations were"
        self._listener(Notice(f"{what} exported to {path}.", key="export"))
        return True

    def voice_when_ready(self, late: asyncio.Future[ModuleType], build: AudioBuilder) -> None:
        """Turn voice on if a sound server that missed the start limit answers after all (one that starts after
        the app, at login, say): the app went on text-only meanwhile."""
        if self.microphone is not None and self._late_audio is None:
            self._late_audio = asyncio.get_running_loop().create_task(self._voice_late(late, build), name="late-audio")

    async def _voice_late(self, late: asyncio.Future[ModuleType], build: AudioBuilder) -> None:
        mic = self.microphone
        assert mic is not None
        try:
            sd = await late
            capture, playback = build(sd, self.settings)
        except AudioUnavailable as exc:
            self._error(ErrorCategory.AUDIO, exc.problem.message)
            return
        log.info("the sound system answered late: opening the devices")
        self._sd = sd
        self._listener(Notice("", key=ErrorCategory.AUDIO.value))  # "voice is off" is no longer true
        mic.attach(capture, playback)
        self.assistant.hook_audio()
        await mic.start()  # a device that will not open says so in the banner's audio row
        self.assistant.sync_hands_free()  # with the service's turn detection, the microphone streams from now
        if playback.is_open or capture.is_open:
            log.info("voice is on")
            self._listener(Notice(VOICE_ON, key="voice-on"))

    async def close(self) -> None:
        """Shut down: session, audio, emulator, history; then save. A step that fails is logged and the next ones
        still run: whatever broke, the conversation and the settings are written."""
        for step in (
            self._stop_late_audio,
            self._sleep.stop,
            self.assistant.keep_the_words,  # the window is gone: the service may still owe the last turn's words
            self.supervisor.close,
            self.assistant.close,
            self._purge_deleted,
            self._close_history,
            self._close_microphone,
            self._stop_demo,
            self.save,
        ):
            try:
                await step()
            except Exception:
                log.exception("shutting down: %s failed", step.__name__)

    async def _stop_late_audio(self) -> None:
        if self._late_audio is not None:
            await finish(self._late_audio, cancel=True)

    async def _purge_deleted(self) -> None:
        if self.recorder is not None:
            await self.recorder.history.purge_deleted()  # deletions could be undone until now

    async def _close_history(self) -> None:
        if self.recorder is not None:
            await self.recorder.close()

    async def _close_microphone(self) -> None:
        if self.microphone is not None:
            await self.microphone.close()

    async def _stop_demo(self) -> None:
        if self._demo is not None:
            await self._demo.stop()
            self._demo = None


def demo_voice_notice(voice_name: str) -> Notice:
    """What the offline demo tells the user about the voice of its answers (``voice_name`` as the emulator's)."""
    if voice_name == "tone":
        text = "Offline demo: answers are spoken as a tone pattern (espeak-ng is not installed)."
    else:
        text = f"Offline demo: answers are spoken with {voice_name}."
    return Notice(text, key="demo-voice")


def audio_options(settings: Settings) -> AudioOptions:
    """The microphone policy's view of the settings."""
    a = settings.audio
    return AudioOptions(a.input_device or None, a.output_device or None, a.keep_mic_open)

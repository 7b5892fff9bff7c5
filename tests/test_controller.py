"""Switching models at runtime: each new connection carries the right profile and model and the earlier talk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import EventLog, MemoryKeyring, until
from voicelive_desktop.assistant_events import TurnState
from voicelive_desktop.audio.backend import AudioProblem, AudioUnavailable
from voicelive_desktop.controller import VOICE_ON, Controller, ControllerState, Notice, demo_voice_notice
from voicelive_desktop.conversation.store import HistoryStore
from voicelive_desktop.conversation.transcript import Role
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.keystore import SecretStore
from voicelive_desktop.services import AudioStart, build_services
from voicelive_desktop.settings import Settings, SettingsStore
from voicelive_desktop.voicelive.events import ErrorCategory, ErrorRaised
from voicelive_desktop.voicelive.modes import Mode

KEY = "controller-key-0987654321"


def _controller(
    settings: Settings, store: SettingsStore, secrets: SecretStore, *, file_settings: Settings | None = None
) -> tuple[Controller, EventLog]:
    """The services as the app builds them, text only (no audio device needed)."""
    events = EventLog()
    saved = file_settings or settings.copy()
    return build_services(events, store, saved, settings, demo=False, secrets=secrets, with_audio=False), events


@pytest.fixture
async def emulator(start_emulator: Any) -> Emulator:
    """A running emulator that accepts the test key."""
    return await start_emulator(api_key=KEY)


@pytest.fixture
async def app(emulator: Emulator, tmp_path: Path) -> AsyncIterator[tuple[Controller, EventLog, SettingsStore]]:
    settings = Settings()
    settings.connection.endpoint = emulator.endpoint
    store = SettingsStore(tmp_path / "settings.toml")
    secrets = SecretStore(MemoryKeyring())
    secrets.set(emulator.endpoint, KEY)
    controller, events = _controller(settings, store, secrets)
    yield controller, events, store
    await controller.close()


async def _say(controller: Controller, events: EventLog, text: str) -> None:
    count = len(controller.assistant.conversation.messages)
    controller.assistant.send_text(text)
    await events.until(
        lambda: (
            controller.assistant.turn is TurnState.IDLE and len(controller.assistant.conversation.messages) >= count + 2
        )
    )


async def test_switching_across_all_three_modes_keeps_and_carries_the_conversation(
    app: tuple[Controller, EventLog, SettingsStore], emulator: Emulator
) -> None:
    controller, events, store = app
    assert not controller.demo and await controller.can_connect()
    assert controller.key_stored, "the settings panel should show that a key is stored"
    assert await controller.connect()
    await _say(controller, events, "first question")
    plan = [
        (Mode.BYOM_REALTIME, "my-realtime-ptu", "byom-azure-openai-realtime"),
        (Mode.BYOM_CHAT_COMPLETION, "grok-3", "byom-azure-openai-chat-completion"),
        (Mode.MANAGED, "gpt-4.1", None),
    ]
    for i, (mode, deployment, profile) in enumerate(plan, start=1):
        assert await controller.select(mode, deployment)
        record = emulator.connections[i]
        assert record.query["model"] == deployment and record.query.get("profile") == profile
        wanted = 2 * i  # every earlier user and assistant message

        def carried_all(record: Any = record, wanted: int = wanted) -> bool:
            return record.received_types().count("conversation.item.create") >= wanted

        await until(carried_all)
        carried = [
            p["text"] for e in record.received if e["type"] == "conversation.item.create" for p in e["item"]["content"]
        ]
        assert carried[0] == "first question", "the earlier conversation was not carried into the new session"
        assert any("gpt-realtime" in t for t in carried), "the earlier answer was not carried"
        await _say(controller, events, f"question {i}")
        answer = controller.assistant.conversation.messages[-1]
        assert deployment in answer.text
    dividers = [m.text for m in controller.assistant.conversation.messages if m.role is Role.DIVIDER]
    assert dividers == [
        "Now talking to my-realtime-ptu (BYOM realtime) \u00b7 2 earlier messages carried",
        "Now talking to grok-3 (BYOM chat completion) \u00b7 4 earlier messages carried",
        "Now talking to gpt-4.1 (Voice Live model) \u00b7 6 earlier messages carried",
    ]
    saved = store.load()
    assert saved.model.mode is Mode.MANAGED and saved.model.deployments["byom-azure-openai-chat-completion"] == "grok-3"
    assert KEY not in store.path.read_text()


async def test_mode_pick_reuses_the_deployment_remembered_for_that_mode(
    app: tuple[Controller, EventLog, SettingsStore], emulator: Emulator
) -> None:
    controller, events, _ = app
    controller.settings.model.remember(Mode.BYOM_CHAT_COMPLETION, "gpt-5-chat")
    assert await controller.connect()
    assert await controller.select(Mode.BYOM_CHAT_COMPLETION, None)
    assert emulator.last().query["model"] == "gpt-5-chat"
    states = events.of(ControllerState)
    assert states[-1].deployment == "gpt-5-chat" and states[-1].deployments[0] == "gpt-5-chat"


async def _new_voice_and_instructions(controller: Controller, input_rate: int | None = None) -> None:
    """Connect, then choose another voice and instructions (and microphone rate, if given) in Settings."""
    assert await controller.connect()
    new = controller.settings.copy()
    new.model.voice = "alloy"
    new.model.instructions = "Be terse."
    if input_rate is not None:
        new.audio.input_rate = input_rate
    assert await controller.apply_settings(new)


async def test_voice_and_instructions_apply_live_without_reconnecting(
    app: tuple[Controller, EventLog, SettingsStore], emulator: Emulator
) -> None:
    controller, _, _ = app
    await _new_voice_and_instructions(controller)
    await until(lambda: [e["type"] for e in emulator.last().sent].count("session.updated") == 2)
    assert len(emulator.connections) == 1
    update = [e for e in emulator.last().received if e["type"] == "session.update"][-1]["session"]
    assert update["voice"] == {"name": "alloy", "type": "openai"} and update["instructions"] == "Be terse."
    assert "error" not in [e["type"] for e in emulator.last().sent], "the service took the live update"


async def test_a_new_microphone_rate_reconnects_and_keeps_the_voice_and_instructions_changed_with_it(
    app: tuple[Controller, EventLog, SettingsStore], emulator: Emulator
) -> None:
    controller, _, _ = app
    await _new_voice_and_instructions(controller, input_rate=16000)
    await until(lambda: len(emulator.connections) == 2 and controller.supervisor.connected)
    await until(lambda: "session.updated" in [e["type"] for e in emulator.last().sent])
    first = emulator.last().received[0]["session"]
    assert first["input_audio_sampling_rate"] == 16000
    assert first["voice"] == {"name": "alloy", "type": "openai"} and first["instructions"] == "Be terse."
    assert not [e for record in emulator.connections for e in record.sent if e["type"] == "error"]


async def test_an_empty_deployment_is_refused_with_a_message(app: tuple[Controller, EventLog, SettingsStore]) -> None:
    controller, events, _ = app
    assert not await controller.select(Mode.BYOM_REALTIME, "  ")
    assert "deployment name is empty" in events.of(ErrorRaised)[-1].message


async def test_first_launch_without_an_endpoint_runs_the_offline_demo(tmp_path: Path) -> None:
    controller, events = _controller(Settings(), SettingsStore(tmp_path / "s.toml"), SecretStore(MemoryKeyring()))
    try:
        assert controller.demo
        await controller.start()
        assert controller.supervisor.connected
        assert events.of(ControllerState)[-1].demo
        voice = [n for n in events.of(Notice) if n.key == "demo-voice"]
        assert voice and voice[-1].message == "Offline demo: answers are spoken with espeak-ng."
    finally:
        await controller.close()


def test_the_demo_says_when_its_answers_are_only_a_tone_pattern() -> None:
    notice = demo_voice_notice("tone")
    assert notice.key == "demo-voice" and "tone pattern (espeak-ng is not installed)" in notice.message


async def test_an_invalid_endpoint_is_told_and_the_demo_is_offered_not_taken(tmp_path: Path) -> None:
    settings = Settings()
    settings.connection.endpoint = "http://contoso.example.com"  # cleartext to another host
    controller, events = _controller(settings, SettingsStore(tmp_path / "s.toml"), SecretStore(MemoryKeyring()))
    try:
        assert not controller.demo
        assert not await controller.connect()
        notice = events.of(Notice)[-1]
        assert "clear text" in notice.message and notice.action == "demo"
        assert not controller.supervisor.connected, "it must not fall back to the demo silently"
        assert await controller.use_demo()
        assert controller.demo and events.of(ControllerState)[-1].demo
    finally:
        await controller.close()


async def test_command_line_values_are_not_written_back(emulator: Emulator, tmp_path: Path) -> None:
    from voicelive_desktop.settings import Overrides, apply_overrides

    store = SettingsStore(tmp_path / "s.toml")
    file = Settings()
    file.model.voice = "en-US-AvaNeural"
    store.save(file)
    launched = apply_overrides(store.load(), Overrides(endpoint=emulator.endpoint, voice="alloy"))
    controller, _events = _controller(launched, store, SecretStore(MemoryKeyring()), file_settings=store.load())
    controller.settings.model.instructions = "changed in the app"
    await controller.save()
    saved = store.load()
    assert saved.model.voice == "en-US-AvaNeural" and saved.connection.endpoint == ""
    assert saved.model.instructions == "changed in the app"
    await controller.close()


async def test_a_key_without_a_keyring_is_used_for_this_session_and_the_user_is_told(
    emulator: Emulator, tmp_path: Path
) -> None:
    import keyring.backends.fail

    store = SettingsStore(tmp_path / "s.toml")
    controller, events = _controller(Settings(), store, SecretStore(keyring.backends.fail.Keyring()))
    try:
        assert controller.demo and await controller.connect()
        new = controller.settings.copy()
        new.connection.endpoint = emulator.endpoint
        assert await controller.apply_settings(new, api_key=KEY)
        assert not controller.demo, "confirming an endpoint and a key leaves the offline demo"
        assert emulator.last().headers["api-key"] == KEY
        voice = [n.message for n in events.of(Notice) if n.key == "demo-voice"]
        assert voice[0] and voice[-1] == "", "the demo said which voice it speaks with; leaving it took that away"
        notices = [n for n in events.of(Notice) if n.key == "keyring"]
        assert notices and "session only" in notices[0].message
        assert KEY not in store.path.read_text()
    finally:
        await controller.close()


async def test_entra_sign_in_that_cannot_get_a_token_says_how_to_sign_in(emulator: Emulator, tmp_path: Path) -> None:
    from voicelive_desktop.voicelive.auth import AuthMethod

    settings = Settings()
    settings.connection.endpoint = emulator.endpoint
    settings.connection.auth = AuthMethod.AZURE_CLI  # no `az` here: the credential fails as a user's would
    controller, events = _controller(settings, SettingsStore(tmp_path / "s.toml"), SecretStore(MemoryKeyring()))
    try:
        assert await controller.can_connect()
        assert not await controller.connect()
        await events.until(lambda: bool(events.of(ErrorRaised)))
        error = events.of(ErrorRaised)[-1]
        assert error.category is ErrorCategory.BAD_CREDENTIALS and "az login" in error.message
    finally:
        await controller.close()


async def test_a_switch_to_another_model_family_replaces_what_it_cannot_use_and_says_so(
    app: tuple[Controller, EventLog, SettingsStore], emulator: Emulator
) -> None:
    controller, events, store = app
    controller.settings.model.voice = "alloy"  # an OpenAI voice: fine with gpt-realtime
    controller.settings.model.transcription_model = "whisper-1"
    assert await controller.connect()
    await until(lambda: bool(emulator.last().received))
    first = emulator.last().received[0]["session"]
    assert first["voice"] == {"name": "alloy", "type": "openai"}
    assert first["input_audio_transcription"]["model"] == "whisper-1"
    assert await controller.select(Mode.BYOM_CHAT_COMPLETION, "grok-3")
    await until(lambda: bool(emulator.last().received))
    body = emulator.last().received[0]["session"]
    assert body["voice"]["type"] == "azure-standard"
    assert body["input_audio_transcription"]["model"] == "azure-speech"
    notice = events.of(Notice)[-1]
    assert "alloy" in notice.message and "whisper-1" in notice.message and "grok-3" in notice.message
    assert store.load().model.voice == "alloy", "the user's own choice stays for the models that can use it"


async def test_forgetting_the_stored_key_removes_it_from_the_keyring(
    app: tuple[Controller, EventLog, SettingsStore], emulator: Emulator
) -> None:
    controller, _events, _store = app
    assert await controller.can_connect() and controller.key_stored
    await controller.apply_settings(controller.settings.copy(), forget_key=True)
    assert controller.secrets.get(emulator.endpoint) is None
    assert not await controller.can_connect(), "without its key the app cannot sign in any more"


def _late_audio_controller(tmp_path: Path, late: asyncio.Future[Any]) -> tuple[Controller, EventLog]:
    """The app as it is built when the sound server missed the start limit: text only, waiting for ``late``."""
    events = EventLog()
    settings = Settings()
    problem = AudioProblem("not-responding", "Voice is off: the sound system did not answer.")
    store = SettingsStore(tmp_path / "settings.toml")
    controller = build_services(
        events, store, settings.copy(), settings, demo=False, secrets=SecretStore(MemoryKeyring()),
        audio=AudioStart(problem, late), keep_history=False,
    )  # fmt: skip
    return controller, events


async def test_a_sound_server_that_fails_after_missing_the_start_limit_says_why(tmp_path: Path) -> None:
    """The late start ends in an error (PortAudio gave up): the banner's audio row says that, not "not answering"."""
    late: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    controller, events = _late_audio_controller(tmp_path, late)
    try:
        assert [e.message for e in events.of(ErrorRaised)] == ["Voice is off: the sound system did not answer."]
        late.set_exception(AudioUnavailable(AudioProblem("missing-portaudio", "Voice is off: PortAudio failed.")))
        await events.until(lambda: len(events.of(ErrorRaised)) == 2)
        last = events.of(ErrorRaised)[-1]
        assert (last.category, last.message) == (ErrorCategory.AUDIO, "Voice is off: PortAudio failed.")
        assert controller.microphone is not None and controller.microphone.capture is None, "still text only"
    finally:
        await controller.close()


async def test_closing_while_waiting_for_a_late_sound_server_does_not_wait_for_it(tmp_path: Path) -> None:
    late: asyncio.Future[Any] = asyncio.get_running_loop().create_future()  # the sound server never answers
    controller, events = _late_audio_controller(tmp_path, late)
    await asyncio.wait_for(controller.close(), 5)
    assert not [n for n in events.of(Notice) if n.message == VOICE_ON]


async def test_a_late_sound_server_whose_devices_will_not_open_is_not_called_voice_on(
    tmp_path: Path, sd: ModuleType, pulse: Any
) -> None:
    """The sound server answers late, but no device opens (here every stream is refused): the banner says what
    failed, and never that voice is on."""

    class Refusing:
        def __getattr__(self, name: str) -> Any:
            return getattr(sd, name)

        def RawInputStream(self, **kwargs: Any) -> Any:
            raise sd.PortAudioError("Device unavailable")

        RawOutputStream = RawInputStream

    late: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    controller, events = _late_audio_controller(tmp_path, late)
    try:
        late.set_result(Refusing())
        await events.until(lambda: any("No usable speaker" in e.message for e in events.of(ErrorRaised)))
        await asyncio.sleep(0.2)  # what the late start says after that, if anything
        assert not [n for n in events.of(Notice) if n.message == VOICE_ON]
        assert Notice("", key="audio") in events.of(Notice), "the 'voice is off' row was not taken down"
    finally:
        await controller.close()


async def test_a_step_of_shutting_down_that_fails_loses_neither_the_conversation_nor_the_settings(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quitting runs every step even when one breaks (here closing the connection, a bug): what was said is in
    the history file and the settings are written."""
    settings = Settings()
    settings.connection.endpoint = emulator.endpoint
    store = SettingsStore(tmp_path / "settings.toml")
    secrets = SecretStore(MemoryKeyring())
    secrets.set(emulator.endpoint, KEY)
    events = EventLog()
    history = tmp_path / "history.sqlite3"
    controller = build_services(
        events, store, settings.copy(), settings, demo=False, secrets=secrets, with_audio=False, history_path=history
    )
    await controller.start()  # opens the history, connects
    assert controller.supervisor.connected
    await _say(controller, events, "keep this sentence")
    conversation_id = controller.assistant.conversation.id

    async def broken() -> None:
        raise RuntimeError("a bug in closing the connection")

    monkeypatch.setattr(controller.supervisor, "close", broken)
    controller.settings.window.geometry = "0badc0de"  # only the save at quit writes this
    await controller.close()
    await type(controller.supervisor).close(controller.supervisor)  # what the bug left open (not the test's subject)
    kept = HistoryStore(history)
    try:
        texts = [m.text for m in kept.load(conversation_id)]
    finally:
        kept.close()
    assert texts[0] == "keep this sentence" and len(texts) == 2
    assert store.load().window.geometry == "0badc0de"


async def test_words_heard_take_down_the_nothing_was_heard_report(
    app: tuple[Controller, EventLog, SettingsStore],
) -> None:
    """A tap said "Nothing was heard"; the next spoken turn with words proves the microphone works: the report
    goes. A typed message proves nothing about the microphone, and leaves it."""
    controller, events, _ = app
    resolved = Notice("", key=ErrorCategory.NOTHING_HEARD.value)
    conversation = controller.assistant.conversation
    typed = conversation.add_user_text("typed-1", "a typed question", pending=False)
    controller.assistant._show(typed)
    assert resolved not in events.of(Notice)
    spoken = conversation.add_user_text("spoken-1", "", pending=False)
    spoken.spoken, spoken.final = True, False
    controller.assistant._show(spoken)
    assert resolved not in events.of(Notice), "not while its words are on their way"
    spoken.text, spoken.final = "what I said", True
    controller.assistant._show(spoken)
    assert resolved in events.of(Notice)


async def test_a_model_asked_for_by_a_later_launch_is_used_but_not_written_to_the_settings_file(
    app: tuple[Controller, EventLog, SettingsStore], emulator: Emulator
) -> None:
    """`voicelive-desktop --byom ... --model grok-3` while the app runs: the running app switches, and the
    settings file keeps what the user chose in the app, as it does for the first launch's command line."""
    controller, _, store = app
    assert await controller.connect()
    assert await controller.select(Mode.BYOM_REALTIME, "my-realtime-ptu")  # the user's own choice, in the header
    assert await controller.select(Mode.BYOM_CHAT_COMPLETION, "grok-3", from_command_line=True)
    assert emulator.last().query["model"] == "grok-3" and controller.settings.deployment == "grok-3"
    await controller.save()
    written = store.load().model
    assert "grok-3" not in str(written.recent) + str(written.deployments)
    assert written.mode is Mode.BYOM_REALTIME and written.deployment_for(Mode.BYOM_REALTIME) == "my-realtime-ptu"
    assert await controller.select(Mode.MANAGED, "gpt-4.1")  # the user's again
    written = store.load().model
    assert written.mode is Mode.MANAGED and written.deployment_for(Mode.MANAGED) == "gpt-4.1"
    assert written.deployment_for(Mode.BYOM_REALTIME) == "my-realtime-ptu"


async def test_a_key_from_the_environment_is_said_to_be_one_and_a_key_typed_in_settings_replaces_it(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With AZURE_VOICELIVE_API_KEY set and nothing in the keyring, the settings panel must not offer to forget a
    stored key that is not there; a key the user types there is the one used from then on, not ignored."""
    monkeypatch.setenv("AZURE_VOICELIVE_API_KEY", "a-wrong-key-from-the-environment")
    settings = Settings()
    settings.connection.endpoint = emulator.endpoint
    secrets = SecretStore(MemoryKeyring())
    controller, _ = _controller(settings, SettingsStore(tmp_path / "settings.toml"), secrets)
    try:
        assert await controller.can_connect()
        assert controller.key_from_env and not controller.key_stored
        assert not await controller.connect(), "the environment's key is the one tried"
        assert await controller.apply_settings(controller.settings.copy(), api_key=KEY)
        assert controller.supervisor.connected and not controller.key_from_env
        assert secrets.get(emulator.endpoint) == KEY and controller.key_stored
    finally:
        await controller.close()


async def test_a_deployment_the_service_does_not_know_is_not_offered_again(
    app: tuple[Controller, EventLog, SettingsStore], emulator: Emulator
) -> None:
    """A typo typed into the deployment box is refused by the service: it does not join the names the box offers
    (there or after a relaunch); the next name that works does."""
    controller, events, store = app
    emulator.options.deployments = frozenset({"gpt-realtime", "gpt-4.1"})
    assert await controller.connect()
    assert not await controller.select(Mode.MANAGED, "my-typo-deployment")
    assert any(e.category is ErrorCategory.DEPLOYMENT_NOT_FOUND for e in events.of(ErrorRaised))
    assert "my-typo-deployment" not in controller.settings.model.choices_for(Mode.MANAGED)
    assert "my-typo-deployment" not in store.load().model.choices_for(Mode.MANAGED)
    assert await controller.select(Mode.MANAGED, "gpt-4.1")
    assert controller.settings.model.choices_for(Mode.MANAGED)[0] == "gpt-4.1"
    assert store.load().model.choices_for(Mode.MANAGED)[0] == "gpt-4.1"

"""Settings: every field survives a round trip, precedence, damaged files, atomic writes, secrets."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import keyring.backend
import keyring.backends.fail
import pytest

from tests.helpers import MemoryKeyring
from voicelive_desktop import files as files_module
from voicelive_desktop import settings as settings_module
from voicelive_desktop.keystore import NoKeyring, SecretStore
from voicelive_desktop.settings import (
    InvalidSetting,
    Overrides,
    Settings,
    SettingsStore,
    apply_overrides,
    validate_deployment,
    validate_endpoint,
)
from voicelive_desktop.voicelive.auth import AuthMethod
from voicelive_desktop.voicelive.config import TurnMode
from voicelive_desktop.voicelive.modes import Mode


def _everything_changed() -> Settings:
    s = Settings()
    s.connection.endpoint = "https://contoso-ai.cognitiveservices.azure.com"
    s.connection.auth = AuthMethod.AZURE_CLI
    s.connection.api_version = "2025-10-01"
    s.connection.tenant_id = "tenant-1"
    s.model.mode = Mode.BYOM_CHAT_COMPLETION
    s.model.remember(Mode.BYOM_REALTIME, "rt-ptu")
    s.model.remember(Mode.BYOM_CHAT_COMPLETION, "gpt-4.1")
    s.model.remember(Mode.BYOM_CHAT_COMPLETION, "grok-3")
    s.model.remember(Mode.MANAGED, "gpt-realtime-mini")
    s.model.voice = "alloy"
    s.model.instructions = "Answer like a pirate.\nKeep it short."
    s.model.temperature = 0.7
    s.model.transcription_model = "whisper-1"
    s.model.transcription_language = "fr-FR"
    s.conversation = settings_module.ConversationSettings(TurnMode.AZURE_SEMANTIC_VAD, 0.3, 800, 200, False, False)
    s.audio = settings_module.AudioSettings("usb_mic", "usb_headset", 500, 350, 60, False, 16000)
    s.keys.hold_key = "F8"
    s.keys.global_key, s.keys.global_key_enabled = "Ctrl+Alt+Space", False
    s.desktop = settings_module.DesktopSettings(True, False, True, True, True)
    s.history.resume_last = False
    s.window.geometry = "01d9d0cb0003"
    return s


def test_every_setting_round_trips(tmp_path: Path) -> None:
    original = _everything_changed()
    for section in dataclasses.fields(original):  # the fixture really changes every field
        default, changed = getattr(Settings(), section.name), getattr(original, section.name)
        for f in dataclasses.fields(changed):
            assert getattr(changed, f.name) != getattr(default, f.name), f"{section.name}.{f.name} left at default"
    store = SettingsStore(tmp_path / "settings.toml")
    store.save(original)
    loaded = SettingsStore(tmp_path / "settings.toml").load()
    assert loaded == original
    assert loaded.deployment == "grok-3"
    assert loaded.model.choices_for(Mode.BYOM_CHAT_COMPLETION)[:2] == ["grok-3", "gpt-4.1"]


def test_precedence_is_command_line_then_environment_then_file_then_defaults() -> None:
    file = Settings()
    file.connection.endpoint = "https://from-file.cognitiveservices.azure.com"
    file.model.voice = "en-US-AvaNeural"
    env = Overrides.from_env(
        {
            "AZURE_VOICELIVE_ENDPOINT": "https://from-env.cognitiveservices.azure.com",
            "AZURE_VOICELIVE_MODEL": "env-model",
            "VOICELIVE_BYOM_MODE": "byom-azure-openai-realtime",
        }
    )
    cli = Overrides(model="cli-model")
    result = apply_overrides(file, cli.over(env))
    assert result.connection.endpoint == "https://from-env.cognitiveservices.azure.com"
    assert result.model.mode is Mode.BYOM_REALTIME and result.deployment == "cli-model"
    assert result.model.voice == "en-US-AvaNeural"  # only the file set it
    assert result.model.instructions == Settings().model.instructions  # nobody set it
    assert apply_overrides(file, Overrides()).connection.endpoint == "https://from-file.cognitiveservices.azure.com"
    with pytest.raises(InvalidSetting, match="byom-azure-openai-chat-completion"):
        apply_overrides(file, Overrides(byom="byom-nonsense"))


def test_a_damaged_file_keeps_what_is_valid_backs_up_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    good = _everything_changed()
    SettingsStore(path).save(good)
    text = path.read_text()
    damaged = text.replace("[audio]\n", "[audio]\npreroll_ms = = 3\x00oops\n")
    path.write_text(damaged)
    store = SettingsStore(path)
    loaded = store.load()
    assert loaded.connection == good.connection and loaded.model == good.model and loaded.keys == good.keys
    assert loaded.audio == Settings().audio
    assert store.backup is not None and store.backup.read_text() == damaged
    message = store.describe_problems()
    assert "[audio]" in message and str(store.backup) in message


def test_a_half_written_file_and_wrong_types_lose_only_the_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    SettingsStore(path).save(_everything_changed())
    text = (
        path.read_text()
        .replace("preroll_ms = 500", 'preroll_ms = "lots"')
        .replace("input_rate = 16000", "input_rate = 44100")
    )
    path.write_text(text[: text.index("[keys]") + 12])  # cut off in the middle of a line
    store = SettingsStore(path)
    loaded = store.load()
    assert loaded.connection.endpoint == "https://contoso-ai.cognitiveservices.azure.com"
    assert loaded.audio.preroll_ms == 300 and loaded.audio.tail_ms == 350
    assert loaded.audio.input_rate == 24000, "a rate Voice Live does not accept falls back to the default"
    assert "audio.preroll_ms" in store.describe_problems() and "44100" in store.describe_problems()


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.toml"
    store = SettingsStore(path)
    store.save(_everything_changed())
    before = path.read_bytes()

    def crash(fd: int) -> None:  # the new file is written, and cannot be flushed to disk
        raise OSError("disk full")

    monkeypatch.setattr(files_module.os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        store.save(Settings())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["settings.toml"], "the failed write left nothing behind"


def test_the_api_key_lives_in_the_keyring_never_in_the_file(tmp_path: Path) -> None:
    backend = MemoryKeyring()
    secrets = SecretStore(backend)
    endpoint = "https://contoso-ai.cognitiveservices.azure.com"
    secrets.set(endpoint, "k-123-secret-abcdef")
    assert backend.store == {("voicelive-desktop", "contoso-ai.cognitiveservices.azure.com"): "k-123-secret-abcdef"}
    assert SecretStore(backend).get(endpoint) == "k-123-secret-abcdef"
    settings = _everything_changed()
    SettingsStore(tmp_path / "s.toml").save(settings)
    assert "k-123-secret" not in (tmp_path / "s.toml").read_text()
    secrets.delete(endpoint)
    assert secrets.get(endpoint) is None


def test_without_a_keyring_the_key_is_offered_for_this_session_only() -> None:
    secrets = SecretStore(keyring.backends.fail.Keyring())
    with pytest.raises(NoKeyring, match="session only"):
        secrets.set("https://x.cognitiveservices.azure.com", "key-value-1")
    assert secrets.get("https://x.cognitiveservices.azure.com") is None
    secrets.set_for_session("https://x.cognitiveservices.azure.com", "key-value-1")
    assert secrets.get("https://x.cognitiveservices.azure.com") == "key-value-1"
    assert SecretStore(keyring.backends.fail.Keyring()).get("https://x.cognitiveservices.azure.com") is None


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://contoso.cognitiveservices.azure.com/", True),
        ("http://127.0.0.1:8765", True),
        ("http://localhost:8765", True),
        ("http://contoso.cognitiveservices.azure.com", False),
        ("ws://10.1.2.3:80", False),
        ("contoso.cognitiveservices.azure.com", False),
        ("ftp://contoso", False),
        ("", False),
    ],
)
def test_endpoint_validation(url: str, ok: bool) -> None:
    if ok:
        assert validate_endpoint(url) == url.rstrip("/")
    else:
        with pytest.raises(InvalidSetting) as caught:
            validate_endpoint(url)
        assert "clear text" in str(caught.value) or "not a valid endpoint" in str(caught.value)


def test_empty_deployment_is_refused() -> None:
    with pytest.raises(InvalidSetting, match="deployment name is empty"):
        validate_deployment("   ")


def test_many_saves_at_once_never_fail_and_leave_one_whole_file(tmp_path: Path) -> None:
    import concurrent.futures

    store = SettingsStore(tmp_path / "settings.toml")
    versions = []
    for i in range(20):
        settings = Settings()
        settings.model.instructions = f"version {i}"
        versions.append(settings)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(store.save, versions))  # raises if any save failed
    assert store.load().model.instructions in {f"version {i}" for i in range(20)}
    assert not store.problems
    assert [p.name for p in tmp_path.iterdir()] == ["settings.toml"], "no temporary file is left behind"


def test_a_file_with_an_older_default_block_moves_to_50_ms_and_a_choice_made_since_is_kept(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.toml")
    store.path.write_text("[audio]\nblock_ms = 20\npreroll_ms = 500\n")  # every older save wrote the old default
    upgraded = store.load()
    assert upgraded.audio.block_ms == 50 and upgraded.audio.preroll_ms == 500 and not store.problems
    upgraded.audio.block_ms = 20  # chosen again, in Settings > Audio
    store.save(upgraded)
    assert store.load().audio.block_ms == 20, "a file in the current format is taken as it is"
    store.path.write_text("[audio]\nblock_ms = 60\n")
    assert store.load().audio.block_ms == 60, "an old file's own choice is kept"
    store.path.write_text("format = 2\n[audio]\nblock_ms = 40\n")  # 40 ms was the default of format 2
    assert store.load().audio.block_ms == 50
    store.path.write_text("format = 2\n[audio]\nblock_ms = 20\n")
    assert store.load().audio.block_ms == 20, "20 ms in a format-2 file was a choice"


def test_values_out_of_range_get_the_default_and_say_so(tmp_path: Path) -> None:
    """A hand-edited file: a 0 ms microphone block spun the app at full CPU, a huge one or a huge release tail
    left it listening for good, an empty hold key named no key. Each gets its default, and the banner lists it."""
    path = tmp_path / "settings.toml"
    path.write_text(
        "[audio]\nblock_ms = 0\ntail_ms = 100000000\npreroll_ms = -5\n"
        "[conversation]\nvad_threshold = 7.5\nvad_silence_ms = 250\n"
        '[keys]\nhold_key = ""\nglobal_key = "F8"\n'
    )
    store = SettingsStore(path)
    loaded = store.load()
    defaults = Settings()
    assert loaded.audio.block_ms == defaults.audio.block_ms == 50
    assert loaded.audio.tail_ms == defaults.audio.tail_ms and loaded.audio.preroll_ms == defaults.audio.preroll_ms
    assert loaded.conversation.vad_threshold == defaults.conversation.vad_threshold
    assert loaded.keys.hold_key == "Space"
    assert loaded.conversation.vad_silence_ms == 250 and loaded.keys.global_key == "F8", "values in range are kept"
    told = store.describe_problems()
    for name in ("audio.block_ms", "audio.tail_ms", "audio.preroll_ms", "conversation.vad_threshold", "keys.hold_key"):
        assert name in told, f"{name} is not in: {told}"
    assert "10 to 100" in told, "the message says what the setting may be"


def test_a_file_from_a_newer_version_keeps_what_this_one_does_not_know_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Going back to an older version for a while must not cost the settings the newer one added: they are written
    back as they were, a copy of the newer file is kept, and the banner says why the file looks different."""
    store = SettingsStore(tmp_path / "settings.toml")
    store.path.write_text(
        "format = 4\ntheme = 'dark'\n"
        "[audio]\nblock_ms = 20\nnoise_gate_db = -40\n"  # a newer file's 20 ms is a choice: no upgrade
        "[captions]\nsize = 'large'\n"
    )
    settings = store.load()
    assert settings.audio.block_ms == 20 and not store.problems
    message = store.describe_problems()
    assert "newer version" in message and "format 4" in message
    assert store.backup is not None and "noise_gate_db" in store.backup.read_text()
    assert str(store.backup) in message

    settings.audio.preroll_ms = 500  # a change made in this version
    store.save(settings)
    saved = tomllib.loads(store.path.read_text())
    assert saved["theme"] == "dark" and saved["captions"] == {"size": "large"}
    assert saved["audio"]["noise_gate_db"] == -40 and saved["audio"]["preroll_ms"] == 500
    assert store.load().audio.preroll_ms == 500

    store.path.write_text("format = 4\n[audio]\nblock_ms = 20\n")
    launches = iter(range(3))
    monkeypatch.setattr(settings_module.time, "strftime", lambda _f: f"launch{next(launches)}")
    for _ in range(3):  # launches of this version that do not save, each a second apart or more
        SettingsStore(store.path).load()
    assert len(list(tmp_path.glob("*.bak"))) == 1, "one copy, not one per launch"


def test_a_file_of_this_version_loads_without_a_message_or_a_copy(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.toml")
    store.save(Settings())
    store.load()
    assert store.describe_problems() == "" and store.backup is None
    assert [p.name for p in tmp_path.iterdir()] == ["settings.toml"]

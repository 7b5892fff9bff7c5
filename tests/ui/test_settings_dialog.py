"""The settings panel edits a copy: OK returns it validated, Cancel discards, bad input is explained."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox
from pytestqt.qtbot import QtBot

from voicelive_desktop.settings import Settings
from voicelive_desktop.ui.settings_dialog import SettingsDialog
from voicelive_desktop.voicelive.auth import AuthMethod
from voicelive_desktop.voicelive.config import TurnMode
from voicelive_desktop.voicelive.modes import Mode


def _dialog(qtbot: QtBot, settings: Settings | None = None) -> SettingsDialog:
    dialog = SettingsDialog(settings or Settings(), key_stored=False)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _ok(dialog: SettingsDialog) -> None:
    buttons = dialog.findChild(QDialogButtonBox)
    assert buttons is not None
    QTest.mouseClick(buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)


def test_ok_returns_the_edited_copy_and_the_key(qtbot: QtBot) -> None:
    original = Settings()
    dialog = _dialog(qtbot, original)
    dialog.endpoint.setText("https://contoso.cognitiveservices.azure.com/")
    dialog.api_key_edit.setText("  pasted-key-1234  ")
    dialog.mode.setCurrentIndex(dialog.mode.findData(Mode.BYOM_CHAT_COMPLETION))
    dialog.deployment.setCurrentText("grok-3")
    dialog.voice.setCurrentText("en-US-AndrewNeural")
    dialog.turn_mode.setCurrentIndex(dialog.turn_mode.findData(TurnMode.SERVER_VAD))
    dialog.preroll.setValue(450)
    dialog.input_rate.setCurrentIndex(dialog.input_rate.findData(16000))
    _ok(dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    result = dialog.result_settings
    assert result is not None
    assert result.connection.endpoint == "https://contoso.cognitiveservices.azure.com"
    assert result.model.mode is Mode.BYOM_CHAT_COMPLETION and result.deployment == "grok-3"
    assert result.model.voice == "en-US-AndrewNeural"
    assert result.conversation.turn_mode is TurnMode.SERVER_VAD and result.audio.preroll_ms == 450
    assert result.audio.input_rate == 16000 and result.session_config().input_sample_rate == 16000
    assert dialog.api_key == "pasted-key-1234"
    assert original == Settings(), "the dialog must edit a copy"


def test_cancel_discards(qtbot: QtBot) -> None:
    original = Settings()
    dialog = _dialog(qtbot, original)
    dialog.voice.setCurrentText("alloy")
    dialog.reject()
    assert dialog.result_settings is None and original.model.voice != "alloy"


def test_a_cleartext_endpoint_to_another_host_is_refused(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    dialog.endpoint.setText("http://contoso.cognitiveservices.azure.com")
    _ok(dialog)
    assert dialog.result_settings is None and dialog.isVisible()
    assert "clear text" in dialog.error.text() and dialog.error.isVisible()
    dialog.endpoint.setText("not a url")
    _ok(dialog)
    assert "not a valid endpoint" in dialog.error.text()


def test_an_empty_deployment_is_refused(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    dialog.deployment.setCurrentText("")
    _ok(dialog)
    assert dialog.result_settings is None and "deployment name is empty" in dialog.error.text()


def test_deployments_are_remembered_per_mode(qtbot: QtBot) -> None:
    settings = Settings()
    settings.model.remember(Mode.BYOM_REALTIME, "rt-ptu")
    dialog = _dialog(qtbot, settings)
    dialog.deployment.setCurrentText("gpt-realtime-mini")
    dialog.mode.setCurrentIndex(dialog.mode.findData(Mode.BYOM_REALTIME))
    assert dialog.deployment.currentText() == "rt-ptu"
    dialog.mode.setCurrentIndex(dialog.mode.findData(Mode.MANAGED))
    assert dialog.deployment.currentText() == "gpt-realtime-mini"
    _ok(dialog)
    assert dialog.result_settings is not None
    assert dialog.result_settings.model.deployments == {
        "byom-azure-openai-realtime": "rt-ptu",
        "managed": "gpt-realtime-mini",
    }


def _items(box: QComboBox) -> list[str]:
    return [box.itemText(i) for i in range(box.count())]


def test_voices_and_transcription_follow_the_model_family(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)  # managed gpt-realtime: a realtime model
    assert "alloy" in _items(dialog.voice) and "en-US-AvaNeural" in _items(dialog.voice)
    assert "whisper-1" in _items(dialog.transcription) and "azure-speech" not in _items(dialog.transcription)
    dialog.mode.setCurrentIndex(dialog.mode.findData(Mode.BYOM_CHAT_COMPLETION))
    assert "alloy" not in _items(dialog.voice) and "en-US-AvaNeural" in _items(dialog.voice)
    assert "azure-speech" in _items(dialog.transcription) and "whisper-1" not in _items(dialog.transcription)
    dialog.mode.setCurrentIndex(dialog.mode.findData(Mode.MANAGED))
    dialog.deployment.setCurrentText("gpt-4.1")  # a chat model in the managed mode too
    assert "alloy" not in _items(dialog.voice) and "azure-speech" in _items(dialog.transcription)


def test_an_impossible_combination_is_refused_with_the_reason(qtbot: QtBot) -> None:
    settings = Settings()
    settings.model.voice = "alloy"
    dialog = _dialog(qtbot, settings)
    dialog.mode.setCurrentIndex(dialog.mode.findData(Mode.BYOM_CHAT_COMPLETION))
    dialog.voice.setCurrentText("alloy")  # typed by hand
    _ok(dialog)
    assert dialog.result_settings is None and dialog.isVisible()
    assert "OpenAI voice" in dialog.error.text() and dialog.error.isVisible()


def test_temperature_is_limited_to_the_service_range_or_the_model_default(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    assert dialog.temperature.text() == "model default"
    dialog.temperature.setValue(0.1)  # below the range: the spin box stops at "model default"
    assert dialog.temperature.text() == "model default"
    dialog.temperature.stepUp()
    assert dialog.temperature.value() == 0.6
    dialog.temperature.setValue(1.5)
    assert dialog.temperature.value() == 1.2
    _ok(dialog)
    assert dialog.result_settings is not None and dialog.result_settings.model.temperature == 1.2


def test_the_api_key_field_is_masked_and_only_for_key_sign_in(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    assert dialog.api_key_edit.echoMode() == dialog.api_key_edit.EchoMode.Password
    dialog.auth.setCurrentIndex(dialog.auth.findData(AuthMethod.AZURE_CLI))
    assert not dialog.api_key_edit.isEnabled()


def test_the_hold_key_is_set_by_pressing_it(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    qtbot.mouseClick(dialog.hold_key, Qt.MouseButton.LeftButton)
    assert dialog.hold_key.text() == "Press a key\u2026"
    qtbot.keyClick(dialog.hold_key, Qt.Key.Key_F8)
    assert dialog.hold_key.text() == "F8"
    _ok(dialog)
    assert dialog.result_settings is not None and dialog.result_settings.keys.hold_key == "F8"


def test_the_key_field_says_where_the_key_in_use_comes_from(qtbot: QtBot) -> None:
    said = {}
    for name, stored, from_env in (("env", False, True), ("keyring", True, False), ("none", False, False)):
        dialog = SettingsDialog(Settings(), key_stored=stored, key_from_env=from_env)
        qtbot.addWidget(dialog)
        said[name] = (dialog.api_key_edit.placeholderText(), dialog.forget_key.isEnabled())
    assert "AZURE_VOICELIVE_API_KEY" in said["env"][0] and not said["env"][1], "no stored key to forget"
    assert "keyring" in said["keyring"][0] and said["keyring"][1]
    assert "paste" in said["none"][0] and not said["none"][1]

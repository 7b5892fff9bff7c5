"""The settings panel edits a copy: OK returns it validated, Cancel discards, bad input is explained."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog
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
    dialog._accept()


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


def test_voices_follow_the_mode(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    voices = lambda: [dialog.voice.itemText(i) for i in range(dialog.voice.count())]  # noqa: E731
    assert "alloy" in voices() and "en-US-AvaNeural" in voices()
    dialog.mode.setCurrentIndex(dialog.mode.findData(Mode.BYOM_CHAT_COMPLETION))
    assert "alloy" not in voices() and "en-US-AvaNeural" in voices()


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

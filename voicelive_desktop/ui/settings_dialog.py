"""The settings panel (menu and Ctrl+,). It edits a copy; Cancel discards, OK hands the copy to the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from ..settings import ENV_API_KEY, RANGES, InvalidSetting, Settings, validate_deployment, validate_endpoint
from ..voicelive.auth import AuthMethod
from ..voicelive.config import AZURE_VOICES, OPENAI_VOICES, TurnMode
from ..voicelive.errors import FOUNDRY_USER_ROLE, FOUNDRY_USER_ROLE_ID
from ..voicelive.families import (
    TEMPERATURE_RANGE,
    Family,
    allows_openai_voices,
    family_of,
    problems,
    transcription_models,
)
from ..voicelive.modes import DEFAULT_API_VERSION, Mode
from .form import KeyCaptureButton, combo, form_page, spin_box

if TYPE_CHECKING:
    from ..controller import Controller, DeviceChoice
    from .bridge import Bridge
    from .main_window import MainWindow

_TURN_LABELS = {
    TurnMode.PUSH_TO_TALK: "Push to talk (hold a key)",
    TurnMode.SERVER_VAD: "Hands-free: server voice detection",
    TurnMode.AZURE_SEMANTIC_VAD: "Hands-free: Azure semantic detection",
}


def _int_range(name: str) -> tuple[int, int]:
    low, high = RANGES[name]
    return int(low), int(high)


class SettingsDialog(QDialog):
    """Connection, Model, Conversation, Audio and Keys tabs over a copy of the settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        key_stored: bool,
        key_from_env: bool = False,
        global_key_status: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.result_settings: Settings | None = None
        self.api_key: str | None = None
        self.forget_stored_key = False
        self._s = settings.copy()
        self._deployments = dict(self._s.model.deployments)
        tabs = QTabWidget()
        tabs.addTab(self._connection_tab(key_stored, key_from_env), "&Connection")
        tabs.addTab(self._model_tab(), "&Model")
        tabs.addTab(self._conversation_tab(), "Con&versation")
        tabs.addTab(self._audio_tab(), "&Audio")
        tabs.addTab(self._keys_tab(global_key_status), "&Keys")
        tabs.addTab(self._desktop_tab(), "&Desktop")
        self.error = QLabel()
        self.error.setObjectName("settingsError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        self.error.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(560, 480)

    # ----------------------------------------------------------------- tabs
    def _connection_tab(self, key_stored: bool, key_from_env: bool) -> QWidget:
        c = self._s.connection
        self.endpoint = QLineEdit(c.endpoint)
        self.endpoint.setPlaceholderText("https://<resource>.cognitiveservices.azure.com")
        self.auth = combo([(m.label, m) for m in AuthMethod], c.auth)
        self.api_key_edit = QLineEdit()
        self.api_key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        if key_from_env:
            hint = f"from {ENV_API_KEY} for this run (type one to use it instead)"
        elif key_stored:
            hint = "stored in the system keyring (type to replace)"
        else:
            hint = "paste Key 1 from the Azure portal"
        self.api_key_edit.setPlaceholderText(hint)
        self.forget_key = QPushButton("Forget the stored key")
        self.forget_key.setCheckable(True)
        self.forget_key.setEnabled(key_stored)
        self.forget_key.setToolTip("Remove this endpoint's API key from the system keyring when you press OK")
        self.forget_key.toggled.connect(self.api_key_edit.setDisabled)
        self.api_version = QLineEdit(c.api_version)
        self.api_version.setPlaceholderText(f"{DEFAULT_API_VERSION} (the version the BYOM documentation names)")
        form = QFormLayout()
        form.addRow("&Endpoint", self.endpoint)
        form.addRow("&Sign in with", self.auth)
        form.addRow("API &key", self.api_key_edit)
        form.addRow("", self.forget_key)
        form.addRow("api-&version", self.api_version)
        note = QLabel(
            "Find the endpoint and keys on your Foundry resource's <i>Keys and Endpoint</i> page. The key is "
            "kept in your system keyring, never in the settings file. Microsoft Entra ID sign-in needs the "
            f"<i>{FOUNDRY_USER_ROLE}</i> role on the resource (role id {FOUNDRY_USER_ROLE_ID})."
        )
        note.setWordWrap(True)
        note.setObjectName("hint")
        form.addRow(note)
        self.auth.currentIndexChanged.connect(self._auth_changed)
        self._auth_changed()
        return form_page(form)

    def _auth_changed(self) -> None:
        self.api_key_edit.setEnabled(self.auth.currentData() is AuthMethod.API_KEY)

    def _model_tab(self) -> QWidget:
        m = self._s.model
        self.mode = combo([(mode.label, mode) for mode in Mode], m.mode)
        self.deployment = QComboBox()
        self.deployment.setEditable(True)
        self.voice = QComboBox()
        self.voice.setEditable(True)
        self.instructions = QPlainTextEdit(m.instructions)
        self.instructions.setTabChangesFocus(True)
        low, high = TEMPERATURE_RANGE
        self.temperature = QDoubleSpinBox()
        self.temperature.setDecimals(2)
        self.temperature.setRange(low - 0.1, high)  # the step below the range reads "model default"
        self.temperature.setSingleStep(0.1)
        self.temperature.setSpecialValueText("model default")
        self.temperature.setValue(m.temperature if m.temperature is not None else low - 0.1)
        self.temperature.setToolTip(f"The service accepts {low} to {high}; the models default to 0.8")
        self.transcription = QComboBox()
        self.transcription.setAccessibleName("Input transcription")
        self._transcription_wanted = m.transcription_model
        self.language = QLineEdit(m.transcription_language)
        self.language.setPlaceholderText("automatic (e.g. en-US)")
        form = QFormLayout()
        form.addRow("M&ode", self.mode)
        form.addRow("&Deployment", self.deployment)
        form.addRow("&Voice", self.voice)
        form.addRow("&Instructions", self.instructions)
        form.addRow("&Temperature", self.temperature)
        form.addRow("Input &transcription", self.transcription)
        form.addRow("&Language", self.language)
        self._current_mode = m.mode
        self._fill_mode(m.mode)
        self.voice.setCurrentText(m.voice)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.deployment.currentTextChanged.connect(self._fill_family)
        return form_page(form)

    def family(self) -> Family:
        """The family of the mode and deployment chosen in the dialog."""
        return family_of(self.mode.currentData(), self.deployment.currentText())

    def _fill_family(self) -> None:
        """Offer the voices and transcription models the chosen model accepts."""
        family = self.family()
        voice = self.voice.currentText()
        self.voice.clear()
        self.voice.addItems(list(AZURE_VOICES) + (list(OPENAI_VOICES) if allows_openai_voices(family) else []))
        self.voice.setCurrentText(voice)
        wanted = self.transcription.currentData() if self.transcription.count() else self._transcription_wanted
        self.transcription.clear()
        self.transcription.addItem(f"Automatic ({transcription_models(family)[0]} for this model)", "")
        for name in transcription_models(family):
            self.transcription.addItem(name, name)
        if wanted and self.transcription.findData(wanted) < 0:
            self.transcription.addItem(f"{wanted} (not available with this model)", wanted)
        self.transcription.setCurrentIndex(max(0, self.transcription.findData(wanted)))

    def _fill_mode(self, mode: Mode) -> None:
        self.deployment.clear()
        self.deployment.addItems(self._s.model.choices_for(mode))
        self.deployment.setCurrentText(self._deployments.get(mode.key) or mode.default_deployments[0])
        self._fill_family()

    def _mode_changed(self) -> None:
        self._deployments[self._current_mode.key] = self.deployment.currentText().strip()
        self._current_mode = self.mode.currentData()
        self._fill_mode(self._current_mode)

    def _conversation_tab(self) -> QWidget:
        c = self._s.conversation
        self.turn_mode = combo([(label, mode) for mode, label in _TURN_LABELS.items()], c.turn_mode)
        self.vad_threshold = QDoubleSpinBox()
        self.vad_threshold.setRange(*RANGES["vad_threshold"])
        self.vad_threshold.setSingleStep(0.05)
        self.vad_threshold.setValue(c.vad_threshold)
        self.vad_silence = spin_box(*_int_range("vad_silence_ms"), c.vad_silence_ms, " ms")
        self.vad_prefix = spin_box(*_int_range("vad_prefix_ms"), c.vad_prefix_ms, " ms")
        self.noise = QCheckBox("Noise suppression")
        self.noise.setChecked(c.noise_suppression)
        self.echo = QCheckBox("Echo cancellation (lets you use speakers without headphones)")
        self.echo.setChecked(c.echo_cancellation)
        self.resume_last = QCheckBox("Start with the last conversation (off: a new one at each launch)")
        self.resume_last.setChecked(self._s.history.resume_last)
        form = QFormLayout()
        form.addRow("&Turns", self.turn_mode)
        form.addRow("Detection &threshold", self.vad_threshold)
        form.addRow("&Silence to end a turn", self.vad_silence)
        form.addRow("&Prefix padding", self.vad_prefix)
        form.addRow(self.noise)
        form.addRow(self.echo)
        form.addRow(self.resume_last)
        return form_page(form)

    def _audio_tab(self) -> QWidget:
        a = self._s.audio
        self.input_device = QComboBox()
        self.output_device = QComboBox()
        for box, current in ((self.input_device, a.input_device), (self.output_device, a.output_device)):
            box.addItem("System default", "")
            if current:
                box.addItem(current, current)
                box.setCurrentIndex(1)
        self.preroll = spin_box(*_int_range("preroll_ms"), a.preroll_ms, " ms")
        self.tail = spin_box(*_int_range("tail_ms"), a.tail_ms, " ms")
        self.block = spin_box(*_int_range("block_ms"), a.block_ms, " ms")
        self.input_rate = combo([("24 kHz", 24000), ("16 kHz (less upload)", 16000)], a.input_rate)
        self.keep_open = QCheckBox("Keep the microphone open between turns (keeps the start of your first word)")
        self.keep_open.setChecked(a.keep_mic_open)
        form = QFormLayout()
        form.addRow("&Microphone", self.input_device)
        form.addRow("&Speaker", self.output_device)
        form.addRow("&Pre-roll", self.preroll)
        form.addRow("&Release tail", self.tail)
        form.addRow("&Block size", self.block)
        form.addRow("Microphone &rate", self.input_rate)
        form.addRow(self.keep_open)
        return form_page(form)

    def set_devices(self, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]]) -> None:
        """Fill the device lists with (name, label) pairs once they have been read."""
        for box, devices in ((self.input_device, inputs), (self.output_device, outputs)):
            current = box.currentData()
            box.clear()
            box.addItem("System default", "")
            for name, label in devices:
                box.addItem(label, name)
            box.setCurrentIndex(max(0, box.findData(current)))

    def _keys_tab(self, global_key_status: str) -> QWidget:
        k = self._s.keys
        self.hold_key = KeyCaptureButton(k.hold_key)
        self.global_key = KeyCaptureButton(k.global_key, with_modifiers=True, name="Global hold-to-talk key")
        self.global_key_enabled = QCheckBox("Hold this key anywhere on the desktop, even in another application")
        self.global_key_enabled.setChecked(k.global_key_enabled)
        self.global_key_enabled.toggled.connect(self.global_key.setEnabled)
        self.global_key.setEnabled(k.global_key_enabled)
        self.global_key_status = QLabel(
            global_key_status or "The global key is taken only while the app is connected, and given back otherwise."
        )
        self.global_key_status.setWordWrap(True)
        self.global_key_status.setObjectName("hint")
        form = QFormLayout()
        form.addRow("&Hold to talk (in this window)", self.hold_key)
        form.addRow(self.global_key_enabled)
        form.addRow("&Global hold key", self.global_key)
        form.addRow(self.global_key_status)
        form.addRow(QLabel("Click a button, then press the key you want to hold while speaking."))
        return form_page(form)

    def _desktop_tab(self) -> QWidget:
        d = self._s.desktop
        self.close_to_tray = QCheckBox("Closing the window keeps the app running in the tray")
        self.close_to_tray.setChecked(d.close_to_tray)
        self.notify_when_hidden = QCheckBox(
            "While the window is hidden, show an answer's first words as a notification"
        )
        self.notify_when_hidden.setChecked(d.notify_when_hidden)
        self.start_minimized = QCheckBox("Start in the tray, without the window")
        self.start_minimized.setChecked(d.start_minimized)
        self.start_at_login = QCheckBox("Start when I log in")
        self.start_at_login.setChecked(d.start_at_login)
        form = QFormLayout()
        for box in (self.close_to_tray, self.notify_when_hidden, self.start_minimized, self.start_at_login):
            form.addRow(box)
        return form_page(form)

    # ----------------------------------------------------------------- result
    def collect(self) -> Settings:
        """The edited copy. Raises InvalidSetting with a message for the user."""
        s = self._s.copy()
        endpoint = self.endpoint.text().strip()
        s.connection.endpoint = validate_endpoint(endpoint) if endpoint else ""
        s.connection.auth = self.auth.currentData()
        s.connection.api_version = self.api_version.text().strip()
        mode: Mode = self.mode.currentData()
        s.model.mode = mode
        s.model.deployments.update({k: v for k, v in self._deployments.items() if v})
        s.model.remember(mode, validate_deployment(self.deployment.currentText()))
        voice = self.voice.currentText().strip()
        if not voice:
            raise InvalidSetting("The voice is empty. Pick one from the list or type a voice name.")
        s.model.voice = voice
        s.model.instructions = self.instructions.toPlainText().strip()
        temperature = round(self.temperature.value(), 2)
        s.model.temperature = None if temperature < TEMPERATURE_RANGE[0] else temperature
        s.model.transcription_model = self.transcription.currentData() or ""
        s.model.transcription_language = self.language.text().strip()
        s.conversation.turn_mode = self.turn_mode.currentData()
        s.conversation.vad_threshold = round(self.vad_threshold.value(), 2)
        s.conversation.vad_silence_ms = self.vad_silence.value()
        s.conversation.vad_prefix_ms = self.vad_prefix.value()
        s.conversation.noise_suppression = self.noise.isChecked()
        s.conversation.echo_cancellation = self.echo.isChecked()
        s.history.resume_last = self.resume_last.isChecked()
        s.audio.input_device = self.input_device.currentData() or ""
        s.audio.output_device = self.output_device.currentData() or ""
        s.audio.preroll_ms, s.audio.tail_ms = self.preroll.value(), self.tail.value()
        s.audio.block_ms, s.audio.keep_mic_open = self.block.value(), self.keep_open.isChecked()
        s.audio.input_rate = self.input_rate.currentData()
        s.keys.hold_key = self.hold_key.key_name
        s.keys.global_key = self.global_key.key_name
        s.keys.global_key_enabled = self.global_key_enabled.isChecked()
        s.desktop.close_to_tray = self.close_to_tray.isChecked()
        s.desktop.notify_when_hidden = self.notify_when_hidden.isChecked()
        s.desktop.start_minimized = self.start_minimized.isChecked()
        s.desktop.start_at_login = self.start_at_login.isChecked()
        refused = problems(s.session_config(), family_of(mode, s.deployment))
        if refused:
            raise InvalidSetting(" ".join(refused))
        return s

    def _accept(self) -> None:
        try:
            self.result_settings = self.collect()
        except InvalidSetting as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        key = self.api_key_edit.text().strip()
        self.api_key = None if self.forget_key.isChecked() else key or None
        self.forget_stored_key = self.forget_key.isChecked()
        self.accept()


def open_settings(window: MainWindow, controller: Controller, bridge: Bridge) -> SettingsDialog:
    """Show the dialog (non-blocking); the device lists fill in when read; OK applies through the bridge."""
    dialog = SettingsDialog(
        controller.settings,
        key_stored=controller.key_stored,
        key_from_env=controller.key_from_env,
        global_key_status=window.global_key_status,
        parent=window,
    )
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def accepted() -> None:
        if dialog.result_settings is not None:
            window.set_hold_key(dialog.result_settings.keys.hold_key)
            window.set_hands_free(dialog.result_settings.conversation.hands_free)
            bridge.apply_settings(dialog.result_settings, dialog.api_key, forget_key=dialog.forget_stored_key)

    def fill(inputs: list[DeviceChoice], outputs: list[DeviceChoice]) -> None:
        if isValid(dialog) and dialog.isVisible():
            dialog.set_devices([(d.name, d.label) for d in inputs], [(d.name, d.label) for d in outputs])

    dialog.accepted.connect(accepted)
    bridge.list_devices(fill)
    dialog.open()
    return dialog

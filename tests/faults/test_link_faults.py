"""Faults of the link and the service, tried on the real app: each checks what the user sees, that the next turn
works by itself, and (in the harness) that nothing finished is lost and nothing is left running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtNetwork import QNetworkInformation

from tests.helpers import until
from voicelive_desktop.assistant_events import TurnState
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.emulator.control import run_action
from voicelive_desktop.recorder import NOT_SENT_BY_EXIT
from voicelive_desktop.voicelive.events import ConnState

Launcher = Callable[..., Any]


def _last_bubble(app: Any) -> str:
    bubbles = app.window.chat.bubbles()
    return bubbles[-1].plain_text() if bubbles and hasattr(bubbles[-1], "plain_text") else ""


async def test_a_drop_mid_answer_marks_it_cut_reconnects_and_asks_again_with_one_click(
    fault_app: Launcher, emulator: Emulator
) -> None:
    app = await fault_app()
    await app.say("first question")
    emulator.options.pace.realtime_factor = 1.0
    emulator.options.drop_after_audio_chunks = 3
    app.type("tell me a long story")
    await until(lambda: app.status.startswith("Reconnecting"), 10)
    await app.connected()
    cut = app.answers()[-1]
    assert cut.cut == "Connection lost" and cut.final
    assert any("Ask again" in text or "connection dropped" in text for text in app.banner)
    emulator.options.pace.realtime_factor = 8.0
    row = app.window.banner._rows["ask-again"]
    app.qtbot.mouseClick(row.action, Qt.MouseButton.LeftButton)  # one click
    await until(lambda: len(app.answers()) == 3 and app.answers()[-1].final and not app.answers()[-1].cut, 20)
    assert "long story" in app.answers()[-1].text
    await app.say("and the next turn works")
    await app.close()


async def test_an_error_event_mid_session_is_shown_and_the_session_goes_on(
    fault_app: Launcher, emulator: Emulator
) -> None:
    app = await fault_app()
    await run_action(emulator, {"action": "error", "code": "server_error", "message": "Something broke."})
    await until(lambda: any("Something broke." in text for text in app.banner))
    assert app.status.startswith("Connected to")
    await app.say("still there?")
    assert len(emulator.connections) == 1, "an error event is not a reason to reconnect"
    assert any("Something broke." in text for text in app.banner), "an answer that came whole does not hide it"
    await app.close()


@pytest.mark.parametrize("kind", ["not_json", "array", "missing_fields"])
async def test_a_malformed_frame_mid_answer_is_skipped_and_the_answer_completes(
    fault_app: Launcher, emulator: Emulator, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = await fault_app()
    emulator.options.malformed_mid_answer = kind
    answer = await app.say("give me an answer despite the noise")
    assert answer.text.startswith("You wrote: give me an answer")
    assert app.status.startswith("Connected to") and len(emulator.connections) == 1
    assert "skipped a malformed" in caplog.text
    await app.say("and the next one")
    await app.close()


async def test_a_three_second_stall_mid_answer_is_waited_out(fault_app: Launcher, emulator: Emulator) -> None:
    app = await fault_app()
    emulator.options.stall_mid_answer_s = 3.0
    await app.say("take your time", timeout=30)
    assert len(emulator.connections) == 1 and app.status.startswith("Connected to")
    await app.say("thanks")
    await app.close()


async def test_a_429_at_the_handshake_waits_as_long_as_the_service_asks_then_connects(
    fault_app: Launcher, emulator: Emulator
) -> None:
    emulator.options.refuse_with = (429, "TooManyRequests")
    emulator.options.retry_after_s = 2
    app = await fault_app(wait=False)
    await until(lambda: app.status.startswith("Reconnecting in"), 10)
    assert "too many requests" in app.status and app.window.header.retry_button.isVisible()
    assert any("429" in text for text in app.banner)
    emulator.options.refuse_with = None
    await app.connected(15)
    assert not any("429" in text for text in app.banner), "the connection problem is resolved: its message goes"
    await app.say("hello after the rush")
    await app.close()


async def test_a_revoked_key_at_reconnect_stops_with_its_own_message(fault_app: Launcher, emulator: Emulator) -> None:
    app = await fault_app()
    await app.say("before the key was revoked")
    emulator.options.api_key = "a-new-key-the-app-does-not-have"
    await run_action(emulator, {"action": "drop"})
    await until(lambda: app.status.startswith("Not connected"), 15)
    assert "rejected the credentials" in app.status
    assert any("401" in text and "API key" in text for text in app.banner)
    attempts = len(emulator.connections)
    with pytest.raises(TimeoutError):
        await until(lambda: len(emulator.connections) > attempts, 2.0)  # it does not keep knocking
    app.type("typed while stopped")
    assert app.window.input.text() == "typed while stopped", "nothing is taken that cannot be sent"
    emulator.options.api_key = "k3y-Z9xQ-very-secret-value-0042"  # the user fixes the key, then Connect
    app.window.input.clear()
    app.qtbot.mouseClick(app.window.header.connect_button, Qt.MouseButton.LeftButton)
    await app.connected()
    await app.say("after the key was fixed")
    await app.close()


@pytest.mark.parametrize("announced", [True, False], ids=["with-expires_at", "without-expires_at"])
async def test_a_session_that_expires_is_replaced_and_the_conversation_goes_on(
    fault_app: Launcher, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, announced: bool
) -> None:
    from voicelive_desktop import supervisor

    # Renewing may start 2 s after connecting. With expires_at announced, the first answer (about 5 s of speech)
    # must end at a turn boundary before the limit: 12 s leaves room on a busy machine. Without it, the session
    # runs into its 8 s limit mid-conversation.
    monkeypatch.setattr(supervisor, "RENEW_BEFORE_S", 10.0 if announced else 6.0)
    emulator.options.session_lifetime_s = 12.0 if announced else 8.0
    emulator.options.announce_expiry = announced
    app = await fault_app("--api-version", "2026-07-15")
    await app.say("remember the word orchid")
    if not announced:  # the limit is met mid-conversation: said while reconnecting (the row goes once connected)
        await until(lambda: any("time limit" in text or "expired" in text for text in app.banner), 15)
    await until(lambda: len(emulator.connections) >= 2 and app.status.startswith("Connected to"), 15)
    first = emulator.connections[0]
    expired = [e for e in first.sent if e["type"] == "error" and e["error"]["code"] == "session_expired"]
    if announced:
        assert expired == [], "renewed at a turn boundary before it expired, unseen"
    else:
        assert expired, "without expires_at the session ran to its end"
    await until(lambda: emulator.last().received_types().count("conversation.item.create") >= 2)
    carried = [
        p["text"]
        for e in emulator.last().received
        if e["type"] == "conversation.item.create"
        for p in e["item"]["content"]
    ]
    assert carried[0] == "remember the word orchid"
    emulator.options.session_lifetime_s = None
    await app.say("still the same conversation")
    await app.close()


async def test_disconnect_then_connect_keeps_the_conversation(fault_app: Launcher, emulator: Emulator) -> None:
    app = await fault_app()
    await app.say("before disconnecting")
    app.qtbot.mouseClick(app.window.header.connect_button, Qt.MouseButton.LeftButton)
    await until(lambda: app.status == "Disconnected")
    assert app.window.talk.caption == "Not connected" and not app.window.send_button.isEnabled()
    await until(lambda: emulator.open_sockets == 0)
    app.qtbot.mouseClick(app.window.header.connect_button, Qt.MouseButton.LeftButton)
    await app.connected()
    assert app.messages[0].text == "before disconnecting"
    await app.say("after connecting again")
    await app.close()


async def test_twenty_quick_model_switches_leave_one_session_open(fault_app: Launcher, emulator: Emulator) -> None:
    app = await fault_app()
    await app.say("before switching")
    line = app.window.header.deployment.lineEdit()
    assert line is not None
    for i in range(20):  # as fast as a user can type names and press Enter
        line.selectAll()
        app.qtbot.keyClicks(line, f"deployment-{i}")
        app.qtbot.keyClick(line, Qt.Key.Key_Return)
        await asyncio.sleep(0)
    await until(lambda: "deployment-19" in app.status and app.status.startswith("Connected to"), 30)
    await until(lambda: emulator.open_sockets == 1)
    assert emulator.peak_open == 1, "never more than one billed session at a time"
    answer = await app.say("who answers now?")
    assert "deployment-19" in answer.text
    await app.close()


async def _outage_after(fault_app: Launcher, emulator: Emulator, said: str) -> Any:
    """The app, once ``said`` was answered, loses its connection, and the service refuses it until told not to."""
    app = await fault_app()
    await app.say(said)
    emulator.options.refuse_with = (503, "ServiceUnavailable")
    await run_action(emulator, {"action": "drop"})
    return app


async def test_a_message_typed_while_reconnecting_is_sent_once_connected(
    fault_app: Launcher, emulator: Emulator
) -> None:
    app = await _outage_after(fault_app, emulator, "hello")
    await until(lambda: app.status.startswith("Reconnecting"), 10)
    shown_before = app.window.latency_label.text()  # the first turn's
    app.type("typed during the outage")
    typed_at = time.monotonic()
    assert app.window.input.text() == "", "taken, to be sent when the link is back"
    await until(lambda: "waiting for the connection" in _last_bubble(app))
    assert app.window.talk.caption == "Waiting for the connection\u2026", "not thinking: nothing has the message yet"
    await asyncio.sleep(1.5)  # an outage the user notices
    emulator.options.refuse_with = None
    await until(lambda: any("typed during the outage" in a.text for a in app.answers()), 30)
    assert app.controller.assistant.turn in (TurnState.IDLE, TurnState.SPEAKING)
    await until(lambda: app.window.latency_label.text() != shown_before, 10)
    latency_ms = int(app.window.latency_label.text().split()[1])
    outage_ms = (time.monotonic() - typed_at) * 1000
    assert latency_ms < outage_ms - 1000, "the service's answer time, not the outage's length"
    await app.close()


async def test_messages_typed_during_an_outage_all_reach_the_service_and_get_one_whole_answer(
    fault_app: Launcher, emulator: Emulator
) -> None:
    """Two messages typed while the service is away: once it is back, both go to it in order and one answer
    follows them, whole (not an answer cut short by the next message, nor an answer to the second alone)."""
    app = await _outage_after(fault_app, emulator, "hello")
    await until(lambda: app.status.startswith("Reconnecting"), 10)
    app.type("first, about apples")
    app.type("second, about pears")
    answered = len(app.answers())
    emulator.options.refuse_with = None
    await until(lambda: len(app.answers()) > answered and app.answers()[-1].final, 30)
    await until(lambda: app.controller.assistant.turn is TurnState.IDLE, 30)  # after a second answer, if any
    roles = [(m.role.value, m.text) for m in app.messages][-3:]
    assert roles[:2] == [("user", "first, about apples"), ("user", "second, about pears")]
    answer = app.answers()[-1]
    assert len(app.answers()) == answered + 1 and roles[2][0] == "assistant"
    assert not answer.cut and answer.text
    sent = emulator.last().received_types()
    assert sent.count("response.create") == 1 and "response.cancel" not in sent
    created = [e for e in emulator.last().received if e["type"] == "conversation.item.create"]
    texts = [c["item"]["content"][0].get("text") for c in created if c["item"].get("role") == "user"]
    assert texts[-2:] == ["first, about apples", "second, about pears"]
    await app.close()


async def test_a_message_typed_during_an_outage_and_never_sent_says_so_after_a_relaunch(
    fault_app: Launcher, emulator: Emulator
) -> None:
    """The user types while the service is away and quits before it is back: next time, the message is there,
    marked as never sent, not passed off as a question the assistant ignored."""
    app = await _outage_after(fault_app, emulator, "hello")
    await until(lambda: app.status.startswith("Reconnecting"), 10)
    app.type("typed, then quit")
    await until(lambda: "waiting for the connection" in _last_bubble(app))
    await app.close()
    emulator.options.refuse_with = None
    again = await fault_app()
    last = again.messages[-1]
    assert (last.text, last.cut) == ("typed, then quit", NOT_SENT_BY_EXIT)
    await until(lambda: "not sent" in _last_bubble(again))
    await again.say("and the app goes on")
    await again.close()
    third = await fault_app()
    assert third.messages[-3].cut == NOT_SENT_BY_EXIT, "kept as never sent"
    await third.close()


async def test_the_network_coming_back_reconnects_at_once_instead_of_waiting_out_the_backoff(
    fault_app: Launcher, emulator: Emulator
) -> None:
    app = await _outage_after(fault_app, emulator, "before the network went")

    def waiting_s() -> float:
        state = app.controller.supervisor.state
        return state.retry_in_s or 0.0 if state.state is ConnState.RECONNECTING else 0.0

    await until(lambda: waiting_s() >= 4, 30)  # a few refusals in, the next try is seconds away
    network = QNetworkInformation.instance()
    assert network is not None, "a lost connection starts the desktop's network watcher"
    emulator.options.refuse_with = None
    network.reachabilityChanged.emit(QNetworkInformation.Reachability.Online)  # as the desktop reports it
    await app.connected(3.5)  # well before the 4 s and more it was waiting
    await app.say("after the network came back")
    await app.close()


async def test_an_answer_cut_short_is_said_until_the_next_answer_comes_whole(
    fault_app: Launcher, emulator: Emulator
) -> None:
    """The banner reports a problem while it holds: after an answer stopped by the content filter, the next one
    that comes whole takes the report down (the cut answer's bubble still says why it stopped)."""
    app = await fault_app()
    emulator.options.incomplete_next_response = "content_filter"
    app.type("the first question")
    await until(lambda: any("cut short" in text for text in app.banner), 20)
    await until(lambda: app.controller.assistant.turn is TurnState.IDLE, 20)
    await app.say("the second question")
    await until(lambda: not any("cut short" in text for text in app.banner))
    assert "content filter" in app.answers()[0].cut
    await app.close()

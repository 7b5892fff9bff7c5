"""Failures inside the protocol and transport faults, as knobs: each one fires as documented, then is spent."""

from __future__ import annotations

import itertools
import json
import shlex
import time
from typing import Any

import aiohttp
import pytest

from tests.emulator.wire import Wire, connect, tone
from tests.helpers import until


async def _ask(wire: Wire, count: int = 1, text: str = "hello there") -> dict[str, Any]:
    content = [{"type": "input_text", "text": text}]
    await wire.send("conversation.item.create", item={"type": "message", "role": "user", "content": content})
    await wire.send("response.create")
    return await wire.wait("response.done", count)


async def test_rate_limited_response_fails_then_the_next_one_works(open_wire: Any) -> None:
    emulator, wire = await open_wire(fail_next_response="rate_limit", retry_after_s=7)
    done = (await _ask(wire))["response"]
    assert done["status"] == "failed" and done["output"] == []
    error = done["status_details"]["error"]
    assert done["status_details"]["type"] == "failed"
    assert error["code"] == "rate_limit_exceeded" and "try again in 7 seconds" in error["message"]
    assert emulator.options.fail_next_response is None, "one-shot"
    assert (await _ask(wire, 2))["response"]["status"] == "completed"


async def test_byom_deployment_refusing_the_managed_identity(open_wire: Any) -> None:
    _emulator, wire = await open_wire("my-gpt-41", profile="byom-azure-openai-chat-completion")
    _emulator.options.fail_next_response = "identity"
    error = (await _ask(wire))["response"]["status_details"]["error"]
    assert error["code"] == "PermissionDenied"
    assert "managed identity" in error["message"] and "Azure AI User" in error["message"]
    assert "my-gpt-41" in error["message"]


async def test_a_failure_can_be_given_whole(open_wire: Any) -> None:
    custom = {"type": "server_error", "code": "model_unavailable", "message": "The model is not available."}
    _emulator, wire = await open_wire(fail_next_response=custom)
    assert (await _ask(wire))["response"]["status_details"] == {"type": "failed", "error": custom}


@pytest.mark.parametrize("reason", ["content_filter", "max_output_tokens"])
async def test_incomplete_response_streams_part_of_the_answer_first(open_wire: Any, reason: str) -> None:
    emulator, wire = await open_wire(incomplete_next_response=reason)
    done = (await _ask(wire))["response"]
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": reason}
    assert done["output"][0]["status"] == "incomplete"
    assert wire.of("response.audio.delta") and wire.of("response.audio_transcript.delta")
    said = wire.of("response.audio_transcript.done")[0]["transcript"]
    planned = emulator.last().conversation.items[-1].planned_text
    assert said and len(said) < len(planned) and planned.startswith(said.strip())


async def test_failed_transcription_of_the_next_turn(open_wire: Any) -> None:
    _emulator, wire = await open_wire(fail_next_transcription=True)
    await wire.update(turn_detection=None)
    for turn in (1, 2):
        await wire.append(tone(300))
        await wire.send("input_audio_buffer.commit")
        await wire.wait("input_audio_buffer.committed", turn)
    failed = await wire.wait("conversation.item.input_audio_transcription.failed")
    first = wire.of("input_audio_buffer.committed")[0]["item_id"]
    assert failed["item_id"] == first and failed["content_index"] == 0
    assert {"type", "code", "message"} <= failed["error"].keys()
    completed = await wire.wait("conversation.item.input_audio_transcription.completed")
    assert completed["item_id"] == wire.of("input_audio_buffer.committed")[1]["item_id"]


async def test_warning_event(open_wire: Any) -> None:
    _emulator, wire = await open_wire(warning_after=1)
    warning = await wire.wait("warning")
    assert set(warning["warning"]) == {"message", "code", "param"} and warning["warning"]["message"]


async def test_expiry_is_announced_then_the_session_ends_1001(open_wire: Any) -> None:
    start = time.time()
    _emulator, wire = await open_wire(session_lifetime_s=0.5)
    expires_at = wire.of("session.created")[0]["session"]["expires_at"]
    assert int(start) <= expires_at <= int(start) + 2
    updated = await wire.update(instructions="x")
    assert updated["session"]["expires_at"] == expires_at
    error = await wire.wait("error")
    assert error["error"]["code"] == "session_expired"
    assert error["error"]["message"] == "Your session hit the maximum duration of 0.5 seconds."
    await wire.until(lambda: wire.close_code is not None)
    assert wire.close_code == 1001
    assert wire.ws.exception() is None


@pytest.mark.parametrize(("version", "announce"), [("2026-04-10", True), ("2026-07-15", False)])
async def test_expires_at_is_left_out_before_2026_07_15_or_when_told(
    open_wire: Any, version: str, announce: bool
) -> None:
    _emulator, wire = await open_wire(api_version=version, session_lifetime_s=30, announce_expiry=announce)
    assert "expires_at" not in wire.of("session.created")[0]["session"]


@pytest.mark.parametrize(
    ("kind", "frame"),
    [("not_json", "{this is not json"), ("array", "[1,2]"), ("missing_fields", '{"type":"response.audio.delta"}')],
)
async def test_malformed_frame_after_n_events(open_wire: Any, kind: str, frame: str) -> None:
    emulator, wire = await open_wire(malformed_after=1, malformed_kind=kind)
    await wire.until(lambda: frame in wire.frames)
    assert wire.frames.index(frame) == 1, "right after the first event"
    assert emulator.last().malformed == [frame]
    assert (await wire.update(instructions="still here"))["type"] == "session.updated"


async def test_malformed_frame_mid_answer(open_wire: Any) -> None:
    _emulator, wire = await open_wire(malformed_mid_answer="array")
    await _ask(wire)
    first_delta = next(i for i, f in enumerate(wire.frames) if '"response.audio.delta"' in f)
    assert wire.frames[first_delta + 1] == "[1,2]"


async def test_stall_mid_answer_then_resume(open_wire: Any) -> None:
    emulator, wire = await open_wire(stall_mid_answer_s=0.6)
    emulator.options.pace.realtime_factor = 50.0
    await _typed_and_create(wire)
    await wire.wait("response.done")
    stamps = [t for e, t in zip(wire.events, wire.stamps, strict=True) if e["type"] == "response.audio.delta"]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps[0] >= 0.55, "the stall comes right after the first chunk"
    assert sum(g >= 0.5 for g in gaps) == 1, "one long gap, then it resumes"
    assert wire.of("response.done")[0]["response"]["status"] == "completed"


async def _typed_and_create(wire: Wire) -> None:
    content = [{"type": "input_text", "text": "hello"}]
    await wire.send("conversation.item.create", item={"type": "message", "role": "user", "content": content})
    await wire.send("response.create")


async def test_drop_when_the_answer_has_streamed_k_chunks(open_wire: Any) -> None:
    emulator, wire = await open_wire(drop_after_audio_chunks=3)
    await _typed_and_create(wire)
    await wire.until(lambda: wire.closed)
    assert len(wire.of("response.audio.delta")) == 3 and not wire.of("response.done")
    assert emulator.options.drop_after_audio_chunks is None


async def test_drop_after_k_appends_counts_from_when_it_was_armed(open_wire: Any) -> None:
    emulator, wire = await open_wire()
    await wire.update(turn_detection=None)
    await wire.append(b"\0" * 4800 * 5)
    await until(lambda: emulator.last().received_types().count("input_audio_buffer.append") == 5)
    emulator.options.drop_after_appends = 3
    await wire.append(b"\0" * 4800 * 2)
    await wire.update(instructions="still connected after 2")
    await wire.append(b"\0" * 4800 * 3)
    await wire.until(lambda: wire.closed)
    assert emulator.last().received_types().count("input_audio_buffer.append") == 10


async def test_control_endpoint_sets_knobs_and_shows_state(open_wire: Any) -> None:
    emulator, wire = await open_wire()
    async with aiohttp.ClientSession() as http:
        url = f"{emulator.endpoint}/emulator"
        async with http.post(
            f"{url}/faults", json={"fail_next_response": "rate_limit", "pace": {"cancel_delay_s": 0.2}}
        ) as r:
            assert r.status == 200 and (await r.json())["fail_next_response"] == "rate_limit"
        assert emulator.options.pace.cancel_delay_s == 0.2
        async with http.post(f"{url}/faults", json={"transcript_order": "sideways", "seed": 3}) as r:
            assert r.status == 400
        assert emulator.options.seed == 0, "a bad request changes nothing"
        async with http.post(f"{url}/faults", json={"no_such_knob": 1}) as r:
            assert r.status == 400 and "unknown knob" in (await r.json())["error"]
        assert (await _ask(wire))["response"]["status"] == "failed"
        async with http.post(f"{url}/actions", json={"action": "warning"}) as r:
            assert r.status == 200
        await wire.wait("warning")
        async with http.post(f"{url}/actions", json={"action": "malformed", "kind": "not_json"}) as r:
            assert r.status == 200
        await wire.until(lambda: "{this is not json" in wire.frames)
        async with http.get(f"{url}/state") as r:
            state = await r.json()
        conn = state["connections"][0]
        assert conn["open"] and conn["family"] == "chat" and conn["query"]["model"] == "gpt-4.1"
        assert [i["role"] for i in conn["items"]] == ["user"] and state["knobs"]["api_key"] == "set"
        async with http.post(f"{url}/actions", json={"action": "drop"}) as r:
            assert r.status == 200
        await wire.until(lambda: wire.closed)
        async with http.post(f"{url}/actions", json={"action": "warning"}) as r:
            assert r.status == 400 and "no open connection" in (await r.json())["error"]


def test_command_line_flags_reach_the_options() -> None:
    from voicelive_desktop.emulator.__main__ import options_from, parser

    args = parser().parse_args(
        shlex.split(
            "--fail-next-response identity --incomplete-next-response content_filter --fail-next-transcription "
            "--warning-after 3 --session-lifetime 90 --no-expires-at --malformed-after 4 --malformed-kind array "
            "--malformed-mid-answer missing_fields --stall-mid-answer 2.5 --drop-after-audio-chunks 6 "
            "--drop-after-appends 9 --drop-after-events 50 --inject-error-after 7 --refuse-with 429:TooManyRequests "
            "--retry-after 5 --transcript-order after --seed 11 --cancel-delay 0.3 --skip-api-version-check"
        )
    )
    opts = options_from(args)
    assert (opts.fail_next_response, opts.incomplete_next_response, opts.fail_next_transcription) == (
        "identity",
        "content_filter",
        True,
    )
    assert (opts.warning_after, opts.session_lifetime_s, opts.announce_expiry) == (3, 90.0, False)
    assert (opts.malformed_after, opts.malformed_kind, opts.malformed_mid_answer) == (4, "array", "missing_fields")
    assert (opts.stall_mid_answer_s, opts.drop_after_audio_chunks, opts.drop_after_appends) == (2.5, 6, 9)
    assert (opts.drop_after_events, opts.inject_error_after, opts.refuse_with) == (50, 7, (429, "TooManyRequests"))
    assert (opts.transcript_order, opts.seed, opts.pace.cancel_delay_s) == ("after", 11, 0.3)
    assert opts.skip_api_version_check and opts.validate_session
    default = options_from(parser().parse_args([]))
    assert default.transcript_order == "random", "run by hand, transcripts land on either side of the answer"


async def test_knobs_turned_while_connected_apply_to_the_open_session(start_emulator: Any) -> None:
    emulator = await start_emulator(api_key="demo", use_espeak=False, use_recognizer=False)
    wire = await connect(emulator.endpoint)
    emulator.options.incomplete_next_response = "content_filter"
    assert (await _ask(wire))["response"]["status"] == "incomplete"
    await wire.close()
    assert json.dumps(emulator.last().sent)  # the record holds only JSON events

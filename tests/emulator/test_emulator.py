"""The emulator on its own: handshake rules, the command line, text-only sessions, and its fallbacks."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from voicelive_desktop.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]


async def _handshake(endpoint: str, query: str, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(f"{endpoint}/voice-live/realtime?{query}", headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status, (exc.headers or {}).get("x-ms-error-code", "")
        await ws.close()
        return 101, ""


async def test_handshake_requires_api_version_model_a_known_profile_and_a_key(start_emulator: Any) -> None:
    emulator = await start_emulator(api_key="k")
    endpoint = emulator.endpoint
    ok = {"api-key": "k"}
    v = "api-version=2025-10-01"
    assert await _handshake(endpoint, f"{v}&model=m", ok) == (101, "")
    assert await _handshake(endpoint, "model=m", ok) == (400, "MissingApiVersion")
    assert await _handshake(endpoint, v, ok) == (400, "MissingModel")
    assert await _handshake(endpoint, f"{v}&model=m&profile=byom-x", ok) == (400, "InvalidProfile")
    assert await _handshake(endpoint, f"{v}&model=m", {"api-key": "nope"}) == (401, "Unauthorized")
    assert await _handshake(endpoint, f"{v}&model=m", {}) == (401, "Unauthorized")


DOCUMENTED_VERSIONS = [
    "2025-05-01-preview",
    "2025-10-01",
    "2026-01-01-preview",
    "2026-04-10",
    "2026-06-01-preview",
    "2026-07-15",
]


@pytest.mark.parametrize("version", DOCUMENTED_VERSIONS)
async def test_every_documented_api_version_is_accepted(start_emulator: Any, version: str) -> None:
    emulator = await start_emulator(api_key="k")
    assert await _handshake(emulator.endpoint, f"api-version={version}&model=m", {"api-key": "k"}) == (101, "")


@pytest.mark.parametrize("version", ["1", "2024-10-01-preview", "2025-10-01-preview", "2026-07-16", "latest"])
async def test_an_undocumented_api_version_is_refused_before_the_upgrade(start_emulator: Any, version: str) -> None:
    emulator = await start_emulator(api_key="k")
    query = f"api-version={version}&model=m"
    assert await _handshake(emulator.endpoint, query, {"api-key": "k"}) == (400, "UnsupportedApiVersion")
    assert emulator.connections == [], "refused before any session existed"
    emulator.options.skip_api_version_check = True
    assert await _handshake(emulator.endpoint, query, {"api-key": "k"}) == (101, "")


async def _session(endpoint: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            f"{endpoint}/voice-live/realtime?api-version=2025-10-01&model=gpt-4.1", headers={"api-key": "demo"}
        ) as ws,
    ):
        for event in events:
            await ws.send_str(json.dumps(event))
        async for msg in ws:
            received.append(json.loads(msg.data))
            if received[-1]["type"] == "response.done":
                break
    return received


async def test_a_text_only_session_answers_in_text() -> None:
    emulator = Emulator()
    endpoint = await emulator.start()
    try:
        got = await _session(
            endpoint,
            [
                {"type": "session.update", "session": {"modalities": ["text"], "turn_detection": None}},
                {
                    "type": "conversation.item.create",
                    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                },
                {"type": "response.create"},
            ],
        )
    finally:
        await emulator.stop()
    kinds = [e["type"] for e in got]
    assert "response.audio.delta" not in kinds and "response.text.delta" in kinds
    text = "".join(e["delta"] for e in got if e["type"] == "response.text.delta")
    assert text == next(e["text"] for e in got if e["type"] == "response.text.done")
    assert text.startswith("You wrote: hi.")


async def test_without_espeak_or_pocketsphinx_it_still_hears_and_speaks(start_emulator: Any, speech_pcm: bytes) -> None:
    emulator = await start_emulator(use_espeak=False, use_recognizer=False)
    endpoint = emulator.endpoint
    appends = [
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(speech_pcm[i : i + 9600]).decode()}
        for i in range(0, len(speech_pcm), 9600)
    ]
    got = await _session(
        endpoint,
        [
            {"type": "session.update", "session": {"turn_detection": None}},
            *appends,
            {"type": "input_audio_buffer.commit"},
            {"type": "response.create"},
        ],
    )
    seconds = len(speech_pcm) / 48000
    heard = next(e["transcript"] for e in got if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert heard == f"({seconds:.1f} s of audio)"
    audio = np.frombuffer(
        b"".join(base64.b64decode(e["delta"]) for e in got if e["type"] == "response.audio.delta"), np.int16
    )
    assert len(audio) > 24000 and np.abs(audio).max() > 5000, "the fallback voice should be clearly audible"


def test_it_runs_alone_and_prints_the_endpoint() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicelive_desktop.emulator", "--port", "0", "--api-key", "demo"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "Endpoint: http://127.0.0.1:" in line
        endpoint = line.split("Endpoint: ")[1].strip()
        status = asyncio.run(_handshake(endpoint, "api-version=2025-10-01&model=gpt-4.1", {"api-key": "demo"}))
        assert status == (101, "")
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize(
    ("status", "code", "needle"),
    [(429, "TooManyRequests", "Too many requests (429)"), (503, "ServiceUnavailable", "tries again shortly")],
)
async def test_throttling_and_outages_get_their_own_message(
    start_emulator: Any, status: int, code: str, needle: str
) -> None:
    from tests.helpers import key_credential
    from voicelive_desktop.voicelive.config import SessionConfig
    from voicelive_desktop.voicelive.events import ErrorCategory, ErrorRaised
    from voicelive_desktop.voicelive.modes import Mode, Target
    from voicelive_desktop.voicelive.session import VoiceLiveSession

    emulator = await start_emulator(refuse_with=(status, code))
    session = VoiceLiveSession(
        Target(emulator.endpoint, Mode.MANAGED, "gpt-4.1"),
        key_credential("demo"),
        SessionConfig(),
    )
    assert not await session.connect()
    await session.close()
    errors = [e async for e in session.events() if isinstance(e, ErrorRaised)]
    assert errors[0].category is (ErrorCategory.THROTTLED if status == 429 else ErrorCategory.SERVICE)
    assert needle in errors[0].message and code in errors[0].message


async def test_the_azure_realtime_model_needs_api_version_2026_01_01_preview_or_later(start_emulator: Any) -> None:
    emulator = await start_emulator(api_key="k")
    key = {"api-key": "k"}
    older = "api-version=2025-10-01&model=azure-realtime"
    assert await _handshake(emulator.endpoint, older, key) == (400, "UnsupportedApiVersion")
    assert await _handshake(emulator.endpoint, "api-version=2026-01-01-preview&model=azure-realtime", key) == (101, "")
    byom = "api-version=2025-10-01&model=azure-realtime&profile=byom-azure-openai-realtime"
    assert await _handshake(emulator.endpoint, byom, key) == (101, ""), "a deployment of one's own may have that name"

"""The open-microphone floor really holds the microphone open while it is measured, and lets it go when stopped."""

from __future__ import annotations

from typing import Any

from benchmarks.clients import OpenMicClient
from tests.helpers import until


def _recorders(pulse: Any) -> list[str]:
    """The sound server's capture streams, one line each."""
    return [line for line in pulse.pactl("list", "short", "source-outputs").splitlines() if line.strip()]


async def test_the_floor_process_records_from_the_microphone_until_stopped(pulse: Any) -> None:
    before = len(_recorders(pulse))
    client = OpenMicClient(pulse.run_env(), block_ms=40)
    client.start()
    try:
        await until(lambda: len(_recorders(pulse)) == before + 1, 5)
        assert client.proc.poll() is None
    finally:
        client.stop()
    assert client.proc.returncode == 0, "it closes the stream and exits when its stdin closes"
    await until(lambda: len(_recorders(pulse)) == before, 5)

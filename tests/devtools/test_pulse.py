"""The private PulseAudio the audio tests run on: when it dies, the suite says so and starts it again."""

from __future__ import annotations

import os
import signal
import time

from voicelive_desktop.devtools.pulse import PrivatePulse


def test_a_sound_server_that_died_is_seen_dead_and_starts_again_with_its_devices() -> None:
    server = PrivatePulse(prefix="vl-pulse-restart-")
    server.start()
    try:
        assert server.alive()
        assert server._pid is not None
        os.kill(server._pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while server.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not server.alive()
        server.restart()
        assert server.alive()
        assert "micfeed" in server.pactl("list", "short", "sinks"), "the virtual microphone is back"
    finally:
        server.stop()

"""Devices as a user picks them: once each, by a stable name, the default followed; clear errors without audio."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import until
from voicelive_desktop.audio.devices import DeviceWatch, list_devices, resolve
from voicelive_desktop.devtools.pulse import PrivatePulse


def test_each_device_is_listed_once_with_the_default_marked(sd: ModuleType, pulse: Any) -> None:
    inputs = list_devices(sd, "input")
    outputs = list_devices(sd, "output")
    names = [d.name for d in inputs]
    assert len(names) == len(set(names))
    assert [d.name for d in inputs if d.is_default] == ["micfeed.monitor"]
    assert [d.name for d in outputs if d.is_default] == ["speaker"]
    assert {"Virtual-Speaker", "Virtual-Mic"} <= {d.label for d in outputs}


def test_a_device_is_chosen_by_name_and_a_missing_one_falls_back(sd: ModuleType, pulse: Any) -> None:
    chosen = resolve(sd, "output", "micfeed")
    assert chosen.env == {"PULSE_SINK": "micfeed"} and chosen.label == "Virtual-Mic"
    fallback = resolve(sd, "output", "usb-headset-unplugged")
    assert fallback.env == {} and "system default" in fallback.label


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "PYTHONPATH": str(root)},
        timeout=60,
        check=False,
    )


def test_missing_portaudio_says_what_to_install() -> None:
    result = _run(
        """
        import ctypes.util
        ctypes.util.find_library = lambda name: None   # as on a machine without libportaudio2
        import sys
        sys.modules.pop("_sounddevice_data", None)
        sys.modules["_sounddevice_data"] = None
        from voicelive_desktop.audio.backend import AudioUnavailable, load_sounddevice
        try:
            load_sounddevice()
        except AudioUnavailable as exc:
            print(exc.problem.kind, "|", exc.problem.message)
        """,
        {},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("missing-portaudio |"), result.stdout
    assert "libportaudio2" in result.stdout and "type messages" in result.stdout


def test_no_audio_device_at_all_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    # With no sound server to talk to, PortAudio here lists no device at all.
    result = _run(
        """
        import asyncio
        from voicelive_desktop.audio.backend import load_sounddevice
        from voicelive_desktop.audio.capture import Capture

        async def main():
            problems = []
            sd = load_sounddevice()
            capture = Capture(sd, on_problem=problems.append)
            print("opened" if capture.open() else "refused", len(sd.query_devices()))
            for p in problems:
                print(p.kind, "|", p.message)

        asyncio.run(main())
        """,
        {"PULSE_SERVER": "unix:/nonexistent", "XDG_RUNTIME_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused 0"), result.stdout
    assert "No usable microphone found" in result.stdout and "type messages" in result.stdout


def test_alsa_plugins_that_were_only_probed_are_unloaded_and_the_microphone_still_works(pulse: Any) -> None:
    # PortAudio opens every device ALSA's configuration names as it starts (a52 with ffmpeg's codecs, jack,
    # speex...) and the libraries stay loaded: about 10 MiB the app never uses.
    result = _run(
        """
        import time
        from voicelive_desktop.audio.backend import load_sounddevice
        from voicelive_desktop.audio.capture import Capture

        def plugins():
            with open("/proc/self/maps") as maps:
                return sorted({line.rsplit("/", 1)[-1].strip() for line in maps if "libasound_module_pcm_" in line})

        sd = load_sounddevice()
        print("after start:", plugins())
        capture = Capture(sd, block_ms=40)
        opened = capture.open(None)
        deadline = time.monotonic() + 5
        while capture.last_block_at == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        print("recording:", opened, capture.last_block_at > 0, len(plugins()), plugins())
        capture.close()
        """,
        pulse.env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "after start: []", result.stdout
    assert lines[1].startswith("recording: True True 1 "), result.stdout  # its own plugin only (pulse, here)


async def test_the_device_watch_follows_a_sound_server_that_is_killed_and_started_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A crashed PulseAudio (or one restarted by an update) takes the app's streams with it: once it is back, the
    watch says so, so that the app opens its devices again. It used to stop watching for good."""
    server = PrivatePulse(prefix="vl-watch-pulse-")
    server.start()
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)  # pactl asks this server
    monkeypatch.setattr(DeviceWatch, "RETRY_S", 0.2)
    changes: list[float] = []
    watch = DeviceWatch(lambda: changes.append(time.monotonic()))
    watch.start()
    try:
        await asyncio.sleep(1.0)  # listening to the server
        assert changes == [], "nothing changed yet"
        assert server._pid is not None
        os.kill(server._pid, signal.SIGKILL)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.restart)
        await until(lambda: bool(changes), 10)
    finally:
        await watch.stop()
        server.stop()

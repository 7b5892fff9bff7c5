"""PyInstaller runtime hook: sounddevice finds the bundled PortAudio on a system that has none.

sounddevice looks PortAudio up with ``ctypes.util.find_library``, which knows only the system's libraries. On a
system that has one, the bundle's copy is loaded anyway (the launcher puts the bundle first on
LD_LIBRARY_PATH); on a system without, this hands sounddevice the bundled file instead of nothing.
"""

import ctypes.util
import os
import sys


def _install() -> None:
    bundled = os.path.join(getattr(sys, "_MEIPASS", ""), "libportaudio.so.2")
    system_lookup = ctypes.util.find_library

    def find_library(name: str) -> str | None:
        found = system_lookup(name)
        if found is None and name == "portaudio" and os.path.isfile(bundled):
            return bundled
        return found

    ctypes.util.find_library = find_library


_install()

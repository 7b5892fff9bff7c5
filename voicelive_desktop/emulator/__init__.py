"""A local Voice Live-compatible service (aiohttp.web): the offline demo and the client's test double.

It shares no code with ``voicelive_desktop.voicelive`` on purpose: it is an independent check of the client.
"""

from .server import ConnectionRecord, Emulator, EmulatorOptions

__all__ = ["ConnectionRecord", "Emulator", "EmulatorOptions"]

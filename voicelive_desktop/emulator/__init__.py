"""A local Voice Live-compatible service (aiohttp.web): the offline demo and the client's test double.

It shares no code with ``voicelive_desktop.voicelive`` on purpose: it is an independent check of the client.
It is strict by default, as the service is: docs/emulator-rules.md lists each rule, its source and how sure
we are of it.
"""

from .items import Pace
from .options import EmulatorOptions
from .server import ConnectionRecord, Emulator

__all__ = ["ConnectionRecord", "Emulator", "EmulatorOptions", "Pace"]

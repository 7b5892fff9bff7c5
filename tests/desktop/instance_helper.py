"""A real app process for the single-instance tests: ``first TRANSPORT NAME`` serves, ``second TRANSPORT NAME
ARG...`` sends (TRANSPORT: ``unix`` or ``qt``)."""

from __future__ import annotations

import json
import sys
from typing import cast

from PySide6.QtCore import QCoreApplication

from voicelive_desktop.desktop.single_instance import SingleInstance, Transport


def main() -> int:
    """Print what happens, one line per event, for the test to read."""
    mode, transport, name, *argv = sys.argv[1:]
    app = QCoreApplication([])
    instance = SingleInstance(name, transport=cast(Transport, transport))
    claimed = instance.claim()
    print("claimed" if claimed else "taken", flush=True)
    if mode == "first" and claimed:
        instance.message.connect(lambda args: print("message", json.dumps(args), flush=True))
        return app.exec()
    if not claimed:
        print("sent" if instance.send_to_running(argv, timeout_s=5) else "not sent", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

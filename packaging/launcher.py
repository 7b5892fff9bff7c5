"""Entry point for the PyInstaller bundle (the package's __main__ uses relative imports, a script cannot)."""

import sys

from voicelive_desktop.app import main

sys.exit(main())

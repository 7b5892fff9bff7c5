"""``python -m voicelive_desktop``."""

import sys

from .app import main

sys.exit(main())

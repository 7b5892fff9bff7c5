#!/usr/bin/env bash
# Build a one-folder desktop bundle with PyInstaller: dist/voicelive-desktop/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python -m pip install -q "pyinstaller>=6"
.venv/bin/pyinstaller --noconfirm --clean packaging/voicelive-desktop.spec
echo "Built dist/voicelive-desktop/ (install resources/voicelive-desktop.desktop to add it to the app menu)"

#!/usr/bin/env bash
# Build the one-folder desktop bundle with PyInstaller: dist/voicelive-desktop/ (see packaging/README.md).
# Installs what it needs first: system packages and .venv through scripts/setup.sh, then PyInstaller.
# Usage: packaging/build.sh [--clean]   (--clean drops PyInstaller's cache: a full rebuild)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python -m pip install -q "pyinstaller==6.22.3" "pyinstaller-hooks-contrib==2026.9"
# rebuilding from the same sources gives a bit-identical bundle: a fixed hash seed, times from the last commit
export PYTHONHASHSEED=0 SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null || echo 315532800)"
start=$SECONDS
.venv/bin/pyinstaller --noconfirm --log-level WARN "$@" packaging/voicelive-desktop.spec
echo "Built dist/voicelive-desktop/ in $((SECONDS - start)) s, $(du -sh dist/voicelive-desktop | cut -f1)."
echo "Smoke-test it with packaging/smoke.sh; add it to the app menu with:"
echo "  dist/voicelive-desktop/voicelive-desktop --install-desktop-entry"

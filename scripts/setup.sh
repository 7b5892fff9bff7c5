#!/usr/bin/env bash
# Prepare a fresh Debian/Ubuntu machine: system packages (PortAudio, PulseAudio, Xvfb, espeak-ng...) and .venv.
# Idempotent: a second run installs nothing. Usage: scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  libportaudio2                                   # PortAudio, which sounddevice loads
  pulseaudio pulseaudio-utils                     # a software sound server with virtual devices
  espeak-ng sox                                   # the emulator's voice; speech for the tests
  libgl1 libegl1 libxkbcommon0 libfontconfig1 libglib2.0-0 libdbus-1-3 fonts-dejavu-core   # Qt
  xvfb xauth libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-render-util0 libxcb-shape0 libxcb-xkb1   # a real X window on a machine without a display
  imagemagick xdotool                             # screenshots, and driving the real window in a script
  x11-xserver-utils x11-utils                     # xset: key auto-repeat on for the hold-key tests; xwininfo
  appstream desktop-file-utils                    # validate the AppStream metainfo and the .desktop entry
  trayer                                          # a light XEmbed system tray: the tray icon test under Xvfb
  dbus-daemon                                     # a private session bus: the GlobalShortcuts portal test
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "Installing system packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "Run as root or install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

extras="speech"
[ "${1:-}" = "--dev" ] && extras="dev"
stamp=".venv/.installed-$extras-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  touch "$stamp"
fi

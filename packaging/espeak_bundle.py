"""What the bundle takes of the system's espeak-ng, the offline demo's voice (used by voicelive-desktop.spec).

Everything lands in the bundle's ``espeak-ng/`` folder: the unmodified program, every library it loads but the
C library (in ``lib/``, kept apart from the app's own libraries so they never replace one another), the
English voice data (``espeak-ng-data/``: the emulator speaks English only) and each Debian package's
copyright file (``copyright/``). The files are collected as data: PyInstaller copies them as they are.

    .venv/bin/python packaging/espeak_bundle.py     # list the files and where they go
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

HOME = "espeak-ng"
#: the C library and the loader: every Linux system has its own, and they must match each other
SYSTEM_LIBRARIES = re.compile(r"^(ld-linux.*|lib(c|m|dl|rt|pthread|resolv)\.so\.\d+)$")
#: the English voice: phoneme tables, intonation, the English dictionary, the English voice definitions
VOICE_DATA = ("phondata", "phonindex", "phontab", "intonations", "en_dict", "lang/gmw/en*")


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def _packages_of(paths: list[str]) -> set[str]:
    """The Debian packages that installed ``paths`` (merged /usr: dpkg knows /lib/x as /usr/lib/x)."""
    candidates = [c for path in paths for c in (path, "/usr" + path)]
    found = subprocess.run(["dpkg-query", "-S", *candidates], check=False, capture_output=True, text=True).stdout
    return {line.split(":")[0] for line in found.splitlines()}


def espeak_files() -> list[tuple[str, str]]:
    """(source file, folder in the bundle) for espeak-ng; fails with a clear message when it is missing."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is not installed: run scripts/setup.sh (Debian package espeak-ng)")
    found = re.search(r"Data at: (\S+)", _run(exe, "--version"))
    if found is None:
        raise SystemExit(f"{exe} --version does not say where its data is")
    data = Path(found.group(1))
    files = [(exe, HOME)]
    libraries = re.findall(r"=> (/\S+)", _run("ldd", exe))
    files += [(lib, f"{HOME}/lib") for lib in libraries if not SYSTEM_LIBRARIES.match(Path(lib).name)]
    for pattern in VOICE_DATA:
        for path in sorted(data.glob(pattern)):
            files.append((str(path), str(Path(HOME, "espeak-ng-data", path.relative_to(data).parent))))
    for package in sorted(_packages_of([path for path, _ in files])):
        copyright_file = Path("/usr/share/doc", package, "copyright")
        if copyright_file.is_file():
            files.append((str(copyright_file), f"{HOME}/copyright/{package}"))
    return files


if __name__ == "__main__":
    for source, folder in espeak_files():
        print(f"{folder:40} {source}")

"""What the bundle takes from others beyond Python modules (used by voicelive-desktop.spec): espeak-ng, and
the licence files of what PyInstaller collected.

espeak-ng, the offline demo's voice, lands in the bundle's ``espeak-ng/`` folder: the unmodified program,
every library it loads but the C library (in ``lib/``, kept apart from the app's own libraries so they never
replace one another), the English voice data (``espeak-ng-data/``: the emulator speaks English only) and each
Debian package's copyright file (``copyright/``).

    .venv/bin/python packaging/third_party.py     # list espeak-ng's files and where they go
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

HOME = "espeak-ng"
#: the C library and the loader: every Linux system has its own, and they must match each other
SYSTEM_LIBRARIES = re.compile(r"^(ld-linux.*|lib(c|m|dl|rt|pthread|resolv)\.so\.\d+)$")
#: the English voice: phoneme tables, intonation, the English dictionary, the English voice definitions
VOICE_DATA = ("phondata", "phonindex", "phontab", "intonations", "en_dict", "lang/gmw/en*")


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def debian_copyrights(paths: list[str], folder: str) -> list[tuple[str, str]]:
    """(copyright file, ``folder``/package) for each Debian package that installed one of ``paths``."""
    candidates = [c for path in paths for c in (path, "/usr" + path)]  # merged /usr: dpkg knows /lib/x as /usr/lib/x
    found = subprocess.run(["dpkg-query", "-S", *candidates], check=False, capture_output=True, text=True).stdout
    packages = sorted({line.split(":")[0] for line in found.splitlines()})
    files = [(Path("/usr/share/doc", package, "copyright"), package) for package in packages]
    return [(str(path), f"{folder}/{package}") for path, package in files if path.is_file()]


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
    return files + debian_copyrights([path for path, _ in files], f"{HOME}/copyright")


def python_licences(top_level_names: Iterable[str], folder: str) -> list[tuple[str, str]]:
    """(licence file, ``folder``/distribution) for each installed distribution providing one of the names; its
    METADATA (which names the licence) when it ships no licence file, as PySide6 does."""
    wanted = set(top_level_names)
    found = []
    for dist in metadata.distributions():
        files = dist.files or []
        meta = [f for f in files if ".dist-info" in f.parts[0]]
        if not wanted & {f.parts[0].removesuffix(".py") for f in files if f not in meta}:
            continue
        texts = [f for f in meta if re.match(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", f.name, re.I)]
        for f in texts or [f for f in meta if f.name == "METADATA"]:
            found.append((str(f.locate()), f"{folder}/{dist.metadata['Name']}"))
    return found


if __name__ == "__main__":
    for source, folder in espeak_files():
        print(f"{folder:40} {source}")

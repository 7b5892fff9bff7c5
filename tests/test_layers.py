"""The layer contract (docs/ARCHITECTURE.md): only ui/, the composition root and a few desktop/ modules may touch Qt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "voicelive_desktop"
QT_FREE = [
    "voicelive",
    "audio",
    "conversation",
    "emulator",
    "devtools",
    "assistant.py",
    "assistant_events.py",
    "supervisor.py",
    "microphone.py",
    "recorder.py",
    "wakeup.py",
    "settings.py",
    "keystore.py",
    "files.py",
    "controller.py",
    "services.py",
    "desktop/hotkeys.py",  # the hold-key backends call back on their own threads: no Qt object there
    "desktop/hotkeys_x11.py",
    "desktop/xcb.py",
    "desktop/hotkeys_portal.py",
    "desktop/hotkeys_pynput.py",
]
FORBIDDEN = ("PySide6", "qasync", "shiboken6")


def _qt_free_files() -> list[Path]:
    files: list[Path] = []
    for name in QT_FREE:
        path = PACKAGE / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else [])
    return files


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", _qt_free_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_qt_free_layers_do_not_import_qt(path: Path) -> None:
    assert not (_imports(path) & set(FORBIDDEN)), f"{path.name} imports Qt; only ui/ and app.py may"


def test_the_emulator_shares_no_code_with_the_session_core() -> None:
    for path in (PACKAGE / "emulator").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                assert "voicelive_desktop.voicelive" not in module and not (
                    node.level >= 2 and module.startswith("voicelive")
                ), f"{path.name} imports the client's code"


def test_importing_the_core_loads_no_qt() -> None:
    modules = [
        "voicelive_desktop.voicelive.session",
        "voicelive_desktop.emulator",
        *(f"voicelive_desktop.{p.stem}" for p in PACKAGE.glob("*.py") if p.name in QT_FREE),
        *(f"voicelive_desktop.{d}" for d in ("audio", "conversation") if (PACKAGE / d / "__init__.py").exists()),
    ]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + (
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'qasync')]\nprint(bad)\n"
            "sys.exit(1 if bad else 0)"
        )
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

"""Put the app in the desktop's app menu and, if asked, start it at login (Linux and other XDG desktops).

Everything goes into the user's own XDG folders, so no root is needed and uninstalling is exact: the .desktop
file (its Exec is the absolute launcher, so it works outside a shell's PATH), the icon at the sizes panels
and menus ask for, the AppStream metainfo, and the XDG autostart entry. Writing is idempotent: a file whose
content is already right is left untouched, so a second install changes nothing.

Qt is optional here: the hicolor PNGs are rendered from the SVG with QtSvg when PySide6 is importable (it is
in PySide6-Essentials); without it only the scalable SVG is installed and the result says so.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

APP_ID = "io.github.voicelive_desktop"
DESKTOP_FILE = "voicelive-desktop.desktop"
ICON_NAME = "voicelive-desktop"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
MINIMIZED_FLAG = "--minimized"
"""What the autostart entry adds to the command line when asked to start minimized; the app must accept it."""
NOT_HERE = "Adding Voice Live to the app menu and starting it at login are not available on this platform yet."
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


@dataclass(frozen=True)
class EntryResult:
    """What an install, uninstall or autostart change did.

    Attributes:
        paths: the files now in place (install, autostart on) or removed (uninstall, autostart off).
        note: plain words for Settings when something was not done as asked; "" when all went well.
        supported: False on platforms without XDG desktop entries (Windows, macOS).
    """

    paths: tuple[Path, ...] = ()
    note: str = ""
    supported: bool = True


def _xdg_home(env: Mapping[str, str], variable: str, fallback: str) -> Path:
    """``$XDG_..._HOME`` if set to an absolute path (the spec says to ignore a relative one), else the default."""
    value = env.get(variable, "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path(env.get("HOME") or Path.home()) / fallback


def data_home(env: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_DATA_HOME`` or ``~/.local/share``."""
    return _xdg_home(env, "XDG_DATA_HOME", ".local/share")


def config_home(env: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CONFIG_HOME`` or ``~/.config``."""
    return _xdg_home(env, "XDG_CONFIG_HOME", ".config")


def launcher_command() -> list[str]:
    """The absolute command that starts this installation of the app."""
    if getattr(sys, "frozen", False):  # a PyInstaller bundle: the executable is the app
        return [str(Path(sys.executable).resolve())]
    script = shutil.which("voicelive-desktop", path=str(Path(sys.executable).parent)) or shutil.which(
        "voicelive-desktop"
    )
    if script:
        return [str(Path(script).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "voicelive_desktop"]


def exec_line(command: Sequence[str]) -> str:
    """A command as a .desktop ``Exec`` value: quoted per the Desktop Entry spec, ``%`` doubled."""
    parts = []
    for arg in command:
        quoted = arg
        if not arg or _RESERVED & set(arg):
            quoted = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
        parts.append(quoted.replace("%", "%%"))
    # Exec is also a string value, whose own escaping doubles every backslash once more.
    return " ".join(parts).replace("\\", "\\\\")


def _desktop_file(command: Sequence[str], *, autostart: bool = False) -> str:
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Name=Voice Live",
        "GenericName=Voice assistant",
        "Comment=Start Voice Live at login" if autostart else "Comment=Push-to-talk client for Azure AI Voice Live",
        f"Exec={exec_line(command)}",
        f"Icon={ICON_NAME}",
        "Terminal=false",
    ]
    if autostart:
        lines.append("X-GNOME-Autostart-enabled=true")
    else:
        lines += [
            "Categories=AudioVideo;Audio;",
            "Keywords=voice;assistant;azure;speech;push-to-talk;",
            "StartupNotify=true",
        ]
    return "\n".join(lines) + "\n"


def _resource(name: str) -> bytes:
    return resources.files("voicelive_desktop.resources").joinpath(name).read_bytes()


def render_png(svg: bytes, size: int) -> bytes | None:
    """The SVG drawn at ``size`` x ``size`` as PNG bytes, or None when QtSvg is not available."""
    try:
        from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
        from PySide6.QtGui import QImage, QPainter
        from PySide6.QtSvg import QSvgRenderer
    except ImportError:
        return None
    renderer = QSvgRenderer(QByteArray(svg))
    if not renderer.isValid():
        return None
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stubs say bytes; PySide6 wants str
    return bytes(buffer.data().data())


def _files(
    command: Sequence[str], env: Mapping[str, str], render: Callable[[bytes, int], bytes | None]
) -> tuple[dict[Path, bytes], str]:
    """Every file an install writes, with its content, and a note if the icons are SVG only."""
    data = data_home(env)
    svg = _resource("voicelive-desktop.svg")
    icons = data / "icons" / "hicolor"
    files = {
        data / "applications" / DESKTOP_FILE: _desktop_file(command).encode(),
        data / "metainfo" / f"{APP_ID}.metainfo.xml": _resource(f"{APP_ID}.metainfo.xml"),
        icons / "scalable" / "apps" / f"{ICON_NAME}.svg": svg,
    }
    note = ""
    for size in ICON_SIZES:
        png = render(svg, size)
        if png is None:
            note = "The icon was installed as SVG only (Qt's SVG renderer is not available); most desktops scale it."
            break
        files[icons / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"] = png
    return files, note


def _icon_paths(env: Mapping[str, str]) -> list[Path]:
    icons = data_home(env) / "icons" / "hicolor"
    return [icons / "scalable" / "apps" / f"{ICON_NAME}.svg"] + [
        icons / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png" for size in ICON_SIZES
    ]


def _write(path: Path, content: bytes) -> None:
    """Write only when the content differs: idempotent, and file times stay put on a second run."""
    if path.exists() and path.read_bytes() == content:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    temporary.replace(path)  # atomic: a menu that reads the folder meanwhile never sees half a file


def _remove(paths: Sequence[Path], stop_at: Path) -> tuple[Path, ...]:
    """Delete ``paths`` and then the folders that became empty, up to (not including) ``stop_at``."""
    removed = []
    for path in paths:
        if path.exists():
            path.unlink()
            removed.append(path)
        folder = path.parent
        while folder != stop_at and stop_at in folder.parents and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent
    return tuple(removed)


def install_desktop_entry(
    command: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
    render: Callable[[bytes, int], bytes | None] = render_png,
) -> EntryResult:
    """Add the app to the user's app menu: .desktop file, hicolor icons, AppStream metainfo.

    Args:
        command: the launcher; default ``launcher_command()`` (absolute, so a menu finds it without PATH).
        env: where XDG_DATA_HOME and HOME come from.
        platform: ``sys.platform``; Windows and macOS have no XDG menu and get a note instead.
        render: SVG-to-PNG renderer; tests pass one that fails to check the SVG-only path.
    """
    if platform in ("win32", "darwin"):
        return EntryResult(note=NOT_HERE, supported=False)
    files, note = _files(command or launcher_command(), env, render)
    for path, content in files.items():
        _write(path, content)
    stale = [p for p in _icon_paths(env) if p not in files]  # PNGs of an earlier install, if rendering now fails
    _remove(stale, data_home(env))
    return EntryResult(tuple(files), note)


def uninstall_desktop_entry(*, env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> EntryResult:
    """Remove everything ``install_desktop_entry`` wrote, and the autostart entry."""
    if platform in ("win32", "darwin"):
        return EntryResult(note=NOT_HERE, supported=False)
    data = data_home(env)
    ours = [data / "applications" / DESKTOP_FILE, data / "metainfo" / f"{APP_ID}.metainfo.xml", *_icon_paths(env)]
    removed = _remove(ours, data) + set_autostart(False, env=env, platform=platform).paths
    return EntryResult(removed)


def autostart_path(env: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CONFIG_HOME/autostart/voicelive-desktop.desktop``."""
    return config_home(env) / "autostart" / DESKTOP_FILE


def set_autostart(
    enabled: bool,
    minimized: bool = True,
    *,
    command: Sequence[str] | None = None,
    env: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
) -> EntryResult:
    """Start the app at login (XDG autostart), optionally minimized to the tray; or stop doing so.

    Args:
        enabled: write the entry (True) or remove it (False).
        minimized: add ``MINIMIZED_FLAG`` to the command, so login does not open a window in the person's face.
        command: the launcher; default ``launcher_command()``.
        env: where XDG_CONFIG_HOME and HOME come from.
        platform: ``sys.platform``.
    """
    if platform in ("win32", "darwin"):
        return EntryResult(note="Starting Voice Live at login is not available on this platform yet.", supported=False)
    path = autostart_path(env)
    if not enabled:
        return EntryResult(_remove([path], config_home(env)))
    argv = [*(command or launcher_command()), *([MINIMIZED_FLAG] if minimized else [])]
    _write(path, _desktop_file(argv, autostart=True).encode())
    return EntryResult((path,))


def autostart_enabled(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the autostart entry is there (for Settings to show the current choice)."""
    return autostart_path(env).exists()

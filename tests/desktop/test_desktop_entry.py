"""The app menu entry, icons, metainfo and autostart, written into throwaway XDG folders."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from voicelive_desktop.desktop.desktop_entry import (
    APP_ID,
    ICON_SIZES,
    MINIMIZED_FLAG,
    autostart_enabled,
    autostart_path,
    exec_line,
    install_desktop_entry,
    launcher_command,
    set_autostart,
    uninstall_desktop_entry,
)

COMMAND = ["/opt/voice live/bin/voicelive-desktop"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }


def files_under(*folders: Path) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for f in folders for p in sorted(f.rglob("*")) if p.is_file()}


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is missing: run scripts/setup.sh (it installs appstream and desktop-file-utils)")
    return exe


def test_install_writes_a_valid_entry_icons_and_metainfo(env: dict[str, str], tmp_path: Path) -> None:
    result = install_desktop_entry(COMMAND, env=env, platform="linux")
    data = tmp_path / "data"
    assert result.supported and result.note == ""

    entry = data / "applications" / "voicelive-desktop.desktop"
    assert 'Exec="/opt/voice live/bin/voicelive-desktop"\n' in entry.read_text()
    subprocess.run([tool("desktop-file-validate"), str(entry)], check=True, capture_output=True)

    for size in ICON_SIZES:
        assert png_size(data / f"icons/hicolor/{size}x{size}/apps/voicelive-desktop.png") == (size, size)
    assert (data / "icons/hicolor/scalable/apps/voicelive-desktop.svg").read_bytes().startswith(b"<svg")

    metainfo = data / "metainfo" / f"{APP_ID}.metainfo.xml"
    check = subprocess.run(
        [tool("appstreamcli"), "validate", "--no-net", str(metainfo)], check=False, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert set(result.paths) == set(files_under(data))


def test_install_twice_changes_nothing_and_uninstall_leaves_nothing(env: dict[str, str], tmp_path: Path) -> None:
    install_desktop_entry(COMMAND, env=env, platform="linux")
    set_autostart(True, env=env, platform="linux", command=COMMAND)
    before = files_under(tmp_path)
    install_desktop_entry(COMMAND, env=env, platform="linux")
    set_autostart(True, env=env, platform="linux", command=COMMAND)
    assert files_under(tmp_path) == before  # same files, same bytes, same modification times

    removed = uninstall_desktop_entry(env=env, platform="linux")
    assert set(removed.paths) == set(before)
    assert files_under(tmp_path) == {}
    assert not (tmp_path / "data" / "icons").exists()
    assert not autostart_enabled(env)


def test_autostart_on_minimized_and_off(env: dict[str, str]) -> None:
    set_autostart(True, minimized=True, env=env, platform="linux", command=COMMAND)
    text = autostart_path(env).read_text()
    assert autostart_path(env) == Path(env["XDG_CONFIG_HOME"]) / "autostart" / "voicelive-desktop.desktop"
    assert f'Exec="/opt/voice live/bin/voicelive-desktop" {MINIMIZED_FLAG}\n' in text
    subprocess.run([tool("desktop-file-validate"), str(autostart_path(env))], check=True, capture_output=True)
    set_autostart(True, minimized=False, env=env, platform="linux", command=COMMAND)
    assert MINIMIZED_FLAG not in autostart_path(env).read_text()
    assert autostart_enabled(env)
    assert set_autostart(False, env=env, platform="linux").paths == (autostart_path(env),)
    assert not autostart_enabled(env)


def test_without_xdg_variables_the_home_defaults_are_used(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": "relative/is/ignored"}
    install_desktop_entry(COMMAND, env=env, platform="linux")
    set_autostart(True, env=env, platform="linux", command=COMMAND)
    assert (tmp_path / ".local/share/applications/voicelive-desktop.desktop").exists()
    assert (tmp_path / ".config/autostart/voicelive-desktop.desktop").exists()
    uninstall_desktop_entry(env=env, platform="linux")
    assert files_under(tmp_path) == {}


def test_without_an_svg_renderer_only_the_svg_is_installed(env: dict[str, str], tmp_path: Path) -> None:
    install_desktop_entry(COMMAND, env=env, platform="linux")
    result = install_desktop_entry(COMMAND, env=env, platform="linux", render=lambda svg, size: None)
    assert "SVG only" in result.note
    icons = [p.relative_to(tmp_path / "data/icons") for p in (tmp_path / "data/icons").rglob("*.*")]
    assert icons == [Path("hicolor/scalable/apps/voicelive-desktop.svg")]


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_other_platforms_get_a_note_and_nothing_is_written(env: dict[str, str], tmp_path: Path, platform: str) -> None:
    for result in (
        install_desktop_entry(COMMAND, env=env, platform=platform),
        set_autostart(True, env=env, platform=platform),
        uninstall_desktop_entry(env=env, platform=platform),
    ):
        assert not result.supported and "not available on this platform" in result.note
    assert not list(tmp_path.rglob("*"))


@pytest.mark.parametrize(
    ("command", "line"),
    [
        (["/usr/bin/voicelive-desktop"], "/usr/bin/voicelive-desktop"),
        (["/opt/a b/app", "--x"], '"/opt/a b/app" --x'),
        (["/p/app", "50%"], "/p/app 50%%"),
        (["/p/$HOME/a"], '"/p/\\\\$HOME/a"'),
        (['/p/say "hi"'], '"/p/say \\\\"hi\\\\""'),
    ],
)
def test_exec_quoting(command: list[str], line: str) -> None:
    assert exec_line(command) == line


def test_the_launcher_is_absolute() -> None:
    assert Path(launcher_command()[0]).is_absolute()

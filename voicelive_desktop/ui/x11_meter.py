"""The level meter drawn by the X server: two small windows of the app's own, filled with their background colour.

A Qt repaint of the meter's few pixels costs the GUI thread 300-600 us on X11 (the paint, the flush, and a round
trip to the server before it paints into shared memory again): at 12 to 25 levels a second, about a fifth of
what the app costs while the key is held. Here the meter is a window (the track, in the button's colour) with a
window inside it (the level, as wide as the level is loud); the server fills both with their background colour
by itself, so a new level is one request to resize the inner one: no painting, no round trip, no Qt call.

The windows ask for no events: pointer events over them go to the app's window beneath, as if they were not
there. Qt's own painting never covers them (X keeps a parent's drawing out of its children) and knows nothing
of them; the button keeps its meter widget beneath them, for accessibility and for the other platforms.
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QApplication, QWidget

from ..desktop import xcb

log = logging.getLogger(__name__)

_COPY_FROM_PARENT = 0
_INPUT_OUTPUT = 1
_CW_BACK_PIXEL = 1 << 1
_CONFIG_X, _CONFIG_Y, _CONFIG_WIDTH, _CONFIG_HEIGHT = 1, 2, 4, 8
_OPAQUE = 0xFF000000  # the alpha of a pixel, in a window of a 32-bit (ARGB) visual


class X11Meter:
    """The meter's two windows inside ``parent`` (the app's top-level X window), on Qt's X ``connection``.

    Geometry is in the parent window's device pixels. Nothing shows until :meth:`show`.
    """

    def __init__(self, connection: int, parent: int, *, alpha: bool = False) -> None:
        self._x = xcb.libraries().xcb
        self._c = connection
        self._opaque = _OPAQUE if alpha else 0
        self.track = self._window(parent)
        self.level = self._window(self.track)
        self.shown = False
        self.width = 0  # the level's width now, in pixels
        self._geometry = (0, 0, 0, 0)
        self._level_mapped = False

    @classmethod
    def for_window(cls, app: QApplication, window: QWidget) -> X11Meter | None:
        """A meter inside ``window`` (a top-level widget, shown) on the app's own X connection; None off X11."""
        if app.platformName() != "xcb":
            return None
        handle = window.windowHandle()
        try:
            connection = int(app.nativeInterface().connection())  # type: ignore[attr-defined]
            return cls(connection, int(window.winId()), alpha=handle is not None and handle.format().hasAlpha())
        except (AttributeError, OSError, TypeError, ValueError) as exc:
            log.info("the level meter is painted by Qt: %s", exc)
            return None

    def _window(self, parent: int) -> int:
        """A 1x1 window of the parent's depth and visual, unmapped, that asks for no events."""
        window = int(self._x.xcb_generate_id(self._c))
        at_and_size = (0, 0, 1, 1, 0)  # x, y, width, height, border
        kind = (_INPUT_OUTPUT, _COPY_FROM_PARENT, _CW_BACK_PIXEL, xcb.values(self._opaque))
        self._x.xcb_create_window(self._c, _COPY_FROM_PARENT, window, parent, *at_and_size, *kind)
        return window

    def place(self, x: int, y: int, width: int, height: int) -> None:
        """The track's rectangle in the parent window; the level is inset by a pixel."""
        if (x, y, width, height) == self._geometry or width < 1 or height < 3:
            return
        self._geometry = (x, y, width, height)
        self._x.xcb_configure_window(
            self._c, self.track, _CONFIG_X | _CONFIG_Y | _CONFIG_WIDTH | _CONFIG_HEIGHT, xcb.values(x, y, width, height)
        )
        self._x.xcb_configure_window(
            self._c, self.level, _CONFIG_X | _CONFIG_Y | _CONFIG_HEIGHT, xcb.values(1, 1, height - 2)
        )
        self._x.xcb_flush(self._c)

    def show(self, track_rgb: int, level_rgb: int) -> None:
        """Show the track in ``track_rgb`` and the level in ``level_rgb`` (0xRRGGBB), at no level yet."""
        for window, rgb in ((self.track, track_rgb), (self.level, level_rgb)):
            self._x.xcb_change_window_attributes(self._c, window, _CW_BACK_PIXEL, xcb.values(self._opaque | rgb))
            self._x.xcb_clear_area(self._c, 0, window, 0, 0, 0, 0)
        self._x.xcb_unmap_window(self._c, self.level)
        self._level_mapped, self.width = False, 0
        self._x.xcb_map_window(self._c, self.track)
        self._x.xcb_flush(self._c)
        self.shown = True

    def hide(self) -> None:
        """Take the meter away (the button beneath shows again)."""
        if self.shown:
            self._x.xcb_unmap_window(self._c, self.track)
            self._x.xcb_flush(self._c)
            self.shown = False

    def set_width(self, width: int) -> None:
        """The level's width in pixels: one request."""
        if width == self.width:
            return
        self.width = width
        if width <= 0:
            if self._level_mapped:
                self._x.xcb_unmap_window(self._c, self.level)
                self._level_mapped = False
        else:
            self._x.xcb_configure_window(self._c, self.level, _CONFIG_WIDTH, xcb.values(width))
            if not self._level_mapped:
                self._x.xcb_map_window(self._c, self.level)
                self._level_mapped = True
        self._x.xcb_flush(self._c)

    def close(self) -> None:
        """Destroy both windows."""
        self._x.xcb_destroy_window(self._c, self.track)  # and the level, its child
        self._x.xcb_flush(self._c)

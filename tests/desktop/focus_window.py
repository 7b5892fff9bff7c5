"""A tiny X client for the tests: a window that takes the input focus and prints each key event it gets.

Prints ``ready <window id>`` once focused, then ``press <keysym>`` / ``release <keysym>`` per event. It does not
ask for detectable auto-repeat, so a held key shows up here as the classic press/release pairs.
"""

from __future__ import annotations

import sys

from Xlib import XK, X
from Xlib.display import Display

NAMES = {value: name[3:] for name, value in vars(XK).items() if name.startswith("XK_")}


def main() -> None:
    """Open the window, focus it, report keys until killed."""
    display = Display()
    screen = display.screen()
    window = screen.root.create_window(
        10, 10, 200, 100, 0, screen.root_depth, event_mask=X.KeyPressMask | X.KeyReleaseMask | X.StructureNotifyMask
    )
    window.map()
    while display.next_event().type != X.MapNotify:
        pass
    window.set_input_focus(X.RevertToParent, X.CurrentTime)
    display.sync()
    print(f"ready {window.id}", flush=True)
    while True:
        event = display.next_event()
        if event.type in (X.KeyPress, X.KeyRelease):
            name = NAMES.get(display.keycode_to_keysym(event.detail, 0), str(event.detail))
            print(f"{'press' if event.type == X.KeyPress else 'release'} {name}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

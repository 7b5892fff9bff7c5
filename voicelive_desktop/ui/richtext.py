"""Text a person said or read, in and out of Qt's rich-text labels.

Not ``html.escape``: the ``html`` package loads HTML5's whole entity table (0.6 MiB resident) for its
``unescape``, and the labels only ever need the five characters below.
"""

from __future__ import annotations

import re

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
_TABLE = str.maketrans(_ESCAPES)
_TAG = re.compile(r"<[^>]+>")


def escape(text: str) -> str:
    """``text`` shown as it is in a rich-text label (nothing in it is taken for markup)."""
    return text.translate(_TABLE)


def plain(rich: str) -> str:
    """What a person copies from a label whose text came from :func:`escape` and a few tags: the tags go, line
    breaks stay, and the escapes are undone."""
    text = _TAG.sub("", rich.replace("<br>", "\n"))
    for char, entity in _ESCAPES.items():
        if char != "&":
            text = text.replace(entity, char)
    return text.replace("&amp;", "&")  # last: "&amp;lt;" was a literal "&lt;"

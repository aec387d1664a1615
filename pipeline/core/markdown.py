"""Text for markdown tables: the one escape every report's table cell goes through."""

from __future__ import annotations

import re
from typing import Any

# Line breaks markdown knows (a table row must stay on one line): CRLF, CR, LF.
_BREAK = re.compile(r"\r\n|\r|\n")


def cell(value: Any) -> str:
    """`value` as one markdown table cell: a backslash doubled (so it escapes nothing), a pipe
    escaped (not a column border), a line break as `<br>` (the row stays one line)."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return _BREAK.sub("<br>", text)

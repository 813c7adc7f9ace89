"""The PDF's font and colours. The charts themselves are drawn as vectors on the page (:mod:`reports.exports`):
no raster image per person, so a PDF of thousands of people stays fast, prints sharp and keeps its labels as text.
Noto Sans CJK SC renders the Chinese."""

from __future__ import annotations

import subprocess
from functools import cache

FONT_FAMILY = "Noto Sans CJK SC"
PALETTE = {"met": (26, 133, 255), "warn": (230, 159, 0), "miss": (213, 94, 0), "insufficient": (150, 150, 150),
           "no_data": (200, 200, 200)}
ROLE_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7"]  # Okabe-Ito, colour-blind safe


@cache
def cjk_font_file() -> str:
    """The Noto Sans CJK collection (``fc-match``), or a clear error naming the missing package."""
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", FONT_FAMILY], capture_output=True, text=True,  # noqa: S603,S607
                             timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    if not out or "CJK" not in out:
        raise RuntimeError("Noto Sans CJK is not installed (Debian: apt-get install fonts-noto-cjk)")
    return out

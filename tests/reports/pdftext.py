"""The text of a PDF's pages as the HR exports write them (fpdf2, one embedded CJK font)."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from pypdf.generic import ContentStream


def pdf_texts(data: bytes, last: int | None = None) -> list[str]:
    """Each page's text (or the ``last`` pages'), decoded through the font's own ToUnicode map. (pypdf's
    extract_text reads fpdf2's two-byte glyph codes one byte at a time: right only while the subset holds fewer than
    256 glyphs.)"""
    reader = PdfReader(io.BytesIO(data))
    out = []
    for page in reader.pages[-last:] if last else reader.pages:
        fonts = {name: f.get_object() for name, f in page["/Resources"]["/Font"].items()}
        maps = {name: {int(a, 16): chr(int(b, 16)) for a, b in re.findall(
            r"<([0-9A-Fa-f]{4})> <([0-9A-Fa-f]{4})>", f["/ToUnicode"].get_object().get_data().decode("latin-1"))}
            for name, f in fonts.items()}
        cmap: dict[int, str] = {}
        lines = []
        for operands, op in ContentStream(page.get_contents(), reader).operations:
            if op == b"Tf":
                cmap = maps[operands[0]]
            elif op == b"Tj":
                raw = operands[0]
                raw = raw.original_bytes if hasattr(raw, "original_bytes") else bytes(raw)
                lines.append("".join(cmap.get(int.from_bytes(raw[i:i + 2], "big"), "") for i in range(0, len(raw), 2)))
        out.append("\n".join(lines))
    return out

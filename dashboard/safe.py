"""Plain text in markdown-rendering elements.

``st.markdown``, ``st.caption``, ``st.info`` / ``warning`` / ``error``, ``st.metric`` labels and widget labels all
render Markdown (links, images, ``:red[...]`` directives, ``$...$`` LaTeX). Data that came from outside (customer
comments, names, imported region and staff names, file names) must go through :func:`md_escape` before it is
interpolated into such a text, or be shown with ``st.text`` / ``st.dataframe`` / ``st.code``, which never render it.
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$=^])")


def md_escape(value: object) -> str:
    """Backslash-escape every Markdown / Streamlit-directive character; newlines become spaces."""
    text = "" if value is None else str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    return _SPECIAL.sub(r"\\\1", text)

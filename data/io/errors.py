"""File-level errors and per-row reasons, with their texts in the translation catalogues.

A :class:`FileError` means the file as a whole cannot be imported (nothing is written); its ``code`` picks the
catalogue entry ``import.error.<code>`` and ``params`` fill the placeholders. Row reasons use
``import.reason.<code>`` the same way.
"""

from __future__ import annotations

from data.i18n import translate


class FileError(Exception):
    """The whole file is refused; nothing was written."""

    def __init__(self, code: str, **params: object) -> None:
        self.code = code
        self.params = params
        super().__init__(self.message("en"))

    def message(self, lang: str = "en") -> str:
        return translate(f"import.error.{self.code}", lang, **self.params)


def reason(code: str, lang: str, **params: object) -> str:
    return translate(f"import.reason.{code}", lang, **params)

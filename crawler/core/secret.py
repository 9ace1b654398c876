"""The Logilica token, held so that it never shows: no repr, log line or traceback has it."""

from __future__ import annotations


class Secret:
    """Holds the token so that no repr, log line or traceback can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

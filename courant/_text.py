"""Sizes of text as it travels: UTF-8 bytes, measured without encoding when the length
in characters already decides."""

from __future__ import annotations


def utf8_longer_than(text: str, limit: int) -> bool:
    """Whether ``text`` takes more than ``limit`` bytes of UTF-8."""
    # A character is 1 to 4 bytes: only encode when the length alone cannot decide.
    # (Lone surrogates, which no transport delivers but a caller may pass, count as 3.)
    if len(text) > limit:
        return True
    return len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit

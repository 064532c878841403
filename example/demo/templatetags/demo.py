"""``{% load demo %}``: the avatar chip of the demo's design, rendered on the server the
way site.js renders it in the browser (``avatar(name)``), with the same colour."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


def hue(name: str) -> int:
    """A colour for ``name`` (0-359 on the colour wheel), the same as site.js's
    ``hue()``: a small hash over the UTF-16 code units of the name in lower case (as
    JavaScript sees the string), so that "Alice" and "alice" are one colour."""
    value = 0
    data = name.lower().encode("utf-16-le")
    for index in range(0, len(data), 2):
        value = (value * 31 + int.from_bytes(data[index : index + 2], "little")) % 360
    return value


def initials(name: str) -> str:
    return "".join(word[0] for word in name.split()[:2]).upper() or "?"


@register.simple_tag
def avatar(name: str, label: bool = True) -> SafeString:
    """An avatar chip: a coloured circle with the initials, then the name (unless
    ``label=False``)."""
    # The initials are drawn by CSS from data-initials, so that a chip's text is the name
    # alone (for screen readers, copy and paste, and tests).
    if not label:
        return format_html(
            '<span class="avatar" style="--hue: {}" data-initials="{}" title="{}"></span>',
            hue(name),
            initials(name),
            name,
        )
    return format_html(
        '<span class="chip"><span class="avatar" style="--hue: {}" data-initials="{}"></span>'
        '<span class="chip-name">{}</span></span>',
        hue(name),
        initials(name),
        name,
    )

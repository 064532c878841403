"""Placeholder of the demo site's topics (to be replaced by the demo branch)."""

from __future__ import annotations

from typing import Any

import courant


class SiteOnline(courant.Topic):
    """``site:online``: who is on the site."""

    pattern = "site:online"
    presence = True

    def can_subscribe(self, user: Any) -> bool:
        return bool(user.is_authenticated)

    def clean_presence(self, user: Any, meta: Any) -> dict[str, str]:
        return {"name": str(user.get_short_name() or user.get_username())}


class UserTopic(courant.Topic):
    """``user:<id>``: a user's own notifications, published by the server."""

    pattern = "user:{id}"

    def can_subscribe(self, user: Any, id: str) -> bool:
        return bool(user.is_authenticated and str(user.pk) == id)

"""The site-wide topics every page of the demo uses (through ``site.js``), and the status
page's RPC method."""

from __future__ import annotations

import os
from typing import Any

import courant


def display_name(user: Any) -> str:
    """How the demo shows a user: the short name (first name), else the username."""
    return str(user.get_short_name() or user.get_username())


class SiteOnline(courant.Topic):
    """``site:online``: who is on the site now. Every page of a logged-in user is tracked
    here by site.js, so ``Object.keys(online.presence).length`` is the number of people
    online (three tabs of one user count once). Nobody publishes."""

    pattern = "site:online"
    presence = True

    def can_subscribe(self, user: Any) -> bool:
        return bool(user.is_authenticated)

    def clean_presence(self, user: Any, meta: Any) -> dict[str, Any]:
        # Whatever the page sent: it shows as its user's name, nothing else.
        return {"name": display_name(user)}


class UserTopic(courant.Topic):
    """``user:<id>``: one user's notifications. Only that user may subscribe (site.js
    does, on every page, and shows each ``{"title", "body"}`` as a notification); the
    server publishes with ``courant.publish(f"user:{user.pk}", {...})``, clients never."""

    pattern = "user:{id}"

    def can_subscribe(self, user: Any, id: str) -> bool:
        return bool(user.is_authenticated) and str(user.pk) == id


def notify_user(user_id: int, title: str, body: str, url: str = "") -> None:
    """Show ``title`` and ``body`` to the user on every page they have open (sync code:
    a view, a signal handler, a topic class's ``clean``)."""
    courant.publish(f"user:{user_id}", {"title": title, "body": body, "url": url})


@courant.method("demo.stats")
async def stats(user: Any, params: Any) -> dict[str, Any]:
    """This process's engine and counts, for the status page: ``courant.stats()`` and the
    process id (with several processes behind one address, each answers for itself).
    Async: it reads counters on the event loop, no worker thread needed."""
    return {**courant.stats(), "pid": os.getpid()}

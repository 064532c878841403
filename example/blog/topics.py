"""The live blog's topic: ``blog:posts``, which PostBinding feeds (added with the binding
framework) and every reader's page follows."""

from __future__ import annotations

from typing import Any

import courant

from .models import Post
from .views import LATEST


class BlogPosts(courant.Topic):
    """``blog:posts``: any visitor may follow it, logged in or not; nobody publishes from a
    client (the server does, at each save of a post)."""

    pattern = "blog:posts"

    def can_subscribe(self, user: Any) -> bool:
        return True


@courant.method("blog.posts")
def posts(user: Any, params: Any) -> list[dict[str, Any]]:
    """The published posts as the reader's page shows them, the newest first: what its
    synced list reloads from after a gap (``client.call("blog.posts")``)."""
    latest = Post.objects.published().select_related("author")[:LATEST]
    return [post.as_data() for post in latest]

"""The live blog's topic, ``blog:posts``, and the binding that feeds it: every save and
delete of a post, in the admin, the editor page or the shell, reaches every reader's page
once committed (``client.sync()`` in blog.js keeps the page's list from these messages).

Drafts must not leak to readers. The binding publishes a post's content only while it is
published; a draft is sent as ``{"published": false}`` and nothing else, so that:

- unpublishing a post (an update) reaches every reader, who removes it: filtering that
  message out instead (``can_receive``) would leave the post on their pages, as a
  subscriber keeps what it last had of an object whose messages it stops receiving;
- a draft's title and body never leave the server, whoever listens on the topic;
- and the one message that tells readers nothing they can use, the creation of a draft,
  is withheld by ``BlogPosts.can_receive``, which decides from the message alone (it runs
  on the event loop for every message and subscriber: no database).

Readers may still see a draft's pk go by when a draft is edited or deleted, which says
no more than that some draft exists.
"""

from __future__ import annotations

from typing import Any

import courant

from .models import Post

#: Posts on the reader's page, the newest first.
LATEST = 50


class PostBinding(courant.Binding):
    model = Post

    def topics(self, post: Post) -> list[str]:
        return ["blog:posts"]

    def serialize(self, post: Post) -> dict[str, Any]:
        # The draft rule above: a draft's content is never sent.
        return post.as_data() if post.published else {"published": False}


class BlogPosts(courant.Topic):
    """``blog:posts``: any visitor may follow it, logged in or not; nobody publishes from a
    client (PostBinding does, at each change of a post)."""

    pattern = "blog:posts"

    def can_subscribe(self, user: Any) -> bool:
        return True

    def can_receive(self, user: Any, data: Any) -> bool:
        # A new draft: nobody's page shows it, so nobody needs to hear of it.
        return not (data["action"] == "create" and not data["data"]["published"])


@courant.method("blog.posts")
def posts(user: Any, params: Any) -> list[dict[str, Any]]:
    """What the reader's page loads, ``client.call("blog.posts")``: the published posts as
    rows (``{pk, ...}``), newest first. Its synced list catches up with them right after
    it subscribes, and after a gap."""
    latest = Post.objects.published().select_related("author")[:LATEST]
    return PostBinding().rows(latest)

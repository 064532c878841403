from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse

from demo.topics import display_name

#: A post saved again this long after it was created shows as edited.
EDITED_AFTER = timedelta(seconds=1)


class PostQuerySet(models.QuerySet["Post"]):
    def published(self) -> PostQuerySet:
        """What readers see: the published posts (the newest first, by the default order)."""
        return self.filter(published=True)


class Post(models.Model):
    """One post of the live blog. Readers see the published ones; a draft is for editors."""

    title = models.CharField(max_length=200)
    body = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts"
    )
    published = models.BooleanField(
        default=True, help_text="Readers see published posts only; the others are drafts."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = PostQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return f"{reverse('blog:index')}#post-{self.pk}"

    @property
    def edited(self) -> bool:
        return self.updated - self.created > EDITED_AFTER

    def as_data(self) -> dict[str, Any]:
        """What a reader's page shows of the post, JSON-safe: rendered into the page at
        first, then sent by PostBinding (topics.py) at each change of a published post."""
        return {
            "published": self.published,
            "title": self.title,
            "body": self.body,
            "author": display_name(self.author),
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
            "edited": self.edited,
        }

"""The board's documents, and who may change them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse

from demo.topics import display_name

TITLE_MAX = 120
BODY_MAX = 20_000


class Document(models.Model):
    """A shared document: anyone logged in reads it and, unless its author locked it,
    edits it. ``revision`` grows by one at each save, so a save made from an older
    revision is refused instead of silently overwriting someone else's."""

    title = models.CharField(max_length=TITLE_MAX)
    body = models.TextField(blank=True, max_length=BODY_MAX)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents"
    )
    locked = models.BooleanField(default=False, help_text="Only the author may save it.")
    revision = models.PositiveIntegerField(default=1)
    updated = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who saved it last.",
    )

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("board:document", args=[self.pk])

    def can_edit(self, user: Any) -> bool:
        """Whether ``user`` may save this document: any logged-in user, unless the
        author locked it; then the author only."""
        if not user.is_authenticated:
            return False
        return not self.locked or user.pk == self.author_id

    def as_card(self) -> dict[str, Any]:
        """The document as the dashboard shows it, without its text (JSON-safe)."""
        return {
            "id": self.pk,
            "title": self.title,
            "author": {"id": self.author_id, "name": display_name(self.author)},
            "locked": self.locked,
            "revision": self.revision,
            "updated": self.updated.isoformat(),
            "updated_by": (
                None
                if self.updated_by is None
                else {"id": self.updated_by_id, "name": display_name(self.updated_by)}
            ),
        }

    def as_data(self) -> dict[str, Any]:
        """The document as its page shows it, text included (JSON-safe)."""
        return {**self.as_card(), "body": self.body}

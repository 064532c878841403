from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Post


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Editors publish, edit and delete posts here; every open reader sees each change."""

    list_display = ("title", "author", "published", "created", "updated")
    list_filter = ("published",)
    list_editable = ("published",)
    search_fields = ("title", "body")
    date_hierarchy = "created"

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # A new post is the editor's own, unless they pick another author.
        return {"author": request.user.pk, **super().get_changeform_initial_data(request)}

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .documents import publish_saved
from .models import Document


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("title", "author", "locked", "revision", "updated", "updated_by")
    list_filter = ("locked", "author")
    search_fields = ("title", "body")
    readonly_fields = ("revision", "updated", "updated_by")

    def save_model(self, request: HttpRequest, obj: Document, form: Any, change: bool) -> None:
        # A save from the admin is a save like any other: the next revision, by this user,
        # told to the document's pages (a page still editing the previous one is then
        # refused its save instead of overwriting this one).
        if change:
            obj.revision += 1
        obj.updated_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)
        if change:
            publish_saved(obj, request.user)

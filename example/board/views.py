from __future__ import annotations

from typing import cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from .models import BODY_MAX, TITLE_MAX, Document
from .topics import DocumentBinding

#: Documents per dashboard page. The dashboard follows one topic per document it shows,
#: and a connection follows at most COURANT["MAX_SUBSCRIPTIONS"] (100) topics, the site's
#: own included: a page stays well under it.
PER_PAGE = 50


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The dashboard: documents, who has each open and how, live (board/dashboard.js).
    The page gets every document's card, kept live through ``board:docs``, and shows
    ``PER_PAGE`` of them at a time (``?page=``)."""
    documents = Document.objects.select_related("author", "updated_by")
    return render(
        request,
        "board/index.html",
        {
            "documents": DocumentBinding().rows(documents),
            "per_page": PER_PAGE,
            "title_max": TITLE_MAX,
        },
    )


@login_required
def document(request: HttpRequest, pk: int) -> HttpResponse:
    """One document, read or edited (``?mode=edit``) live (board/document.js)."""
    shown = get_object_or_404(Document.objects.select_related("author", "updated_by"), pk=pk)
    can_edit = shown.can_edit(request.user)
    wants_edit = request.GET.get("mode") == "edit"
    return render(
        request,
        "board/document.html",
        {
            "document": shown,
            "data": shown.as_data(),
            "can_edit": can_edit,
            "is_author": request.user.pk == shown.author_id,
            "mode": "editing" if wants_edit and can_edit else "reading",
            "refused_edit": wants_edit and not can_edit,
            "title_max": TITLE_MAX,
            "body_max": BODY_MAX,
        },
    )


@login_required
@require_POST
def new(request: HttpRequest) -> HttpResponse:
    """Start a document and open it for editing."""
    title = request.POST.get("title", "").strip()[:TITLE_MAX] or "Untitled"
    author = cast("User", request.user)  # login_required
    created = Document.objects.create(title=title, author=author, updated_by=author)
    return redirect(f"{created.get_absolute_url()}?mode=edit")

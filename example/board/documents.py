"""Changing documents: one place for the RPC methods and the admin, so that every save is
checked the same way and reaches the pages that show the document.

Sync code (the ORM, then ``courant.publish``): RPC methods written as plain ``def`` run
in a worker thread, where it belongs.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

import courant
from demo.topics import display_name, notify_user

from .models import Document


def document_topic(pk: int) -> str:
    """The topic of one document: its page's presence (who reads, who edits) and its
    events (saved, locked)."""
    return f"doc:{pk}"


def publish_saved(document: Document, by: Any) -> None:
    """Tell the document's pages that ``by`` saved it, once the save is committed (a
    rolled-back save tells nobody)."""
    event = {"type": "saved", "document": document.as_data(), "by": _who(by)}
    transaction.on_commit(lambda: courant.publish(document_topic(document.pk), event))


def save_document(user: Any, pk: int, title: str, body: str, revision: int) -> Document:
    """Save ``title`` and ``body`` as ``user``, over ``revision``: the revision the
    editor started from. Raises ``courant.Reject`` with code ``not_found``,
    ``forbidden`` (locked by its author) or ``conflict`` (someone saved meanwhile)."""
    if not user.is_authenticated:
        raise courant.Reject("log in to save documents", code="forbidden")
    with transaction.atomic():
        document = _get(pk)
        # Compare and set in one statement, the permission included: of two saves over
        # the same revision (two processes, on any database), exactly one moves it on,
        # and a lock that landed since the document was read is still obeyed.
        moved = (
            Document.objects.filter(pk=pk, revision=revision)
            .filter(Q(locked=False) | Q(author_id=user.pk))
            .update(revision=F("revision") + 1)
        )
        if not moved:
            document.refresh_from_db()
            if not document.can_edit(user):
                raise courant.Reject(
                    f"{display_name(document.author)} locked this document: only they can save it",
                    code="forbidden",
                )
            by = document.updated_by
            raise courant.Reject(
                f"{display_name(by) if by else 'Someone'} saved a newer version while you "
                "were editing: reload it before saving",
                code="conflict",
            )
        document.refresh_from_db(fields=["revision"])
        document.title = title
        document.body = body
        document.updated_by = user
        document.updated = timezone.now()
        document.save(update_fields=["title", "body", "updated_by", "updated"])
        publish_saved(document, user)
    return document


def set_locked(user: Any, pk: int, locked: bool) -> Document:
    """Lock (only the author may save) or unlock a document: its author only."""
    with transaction.atomic():
        document = _get(pk)
        if user.pk != document.author_id:
            raise courant.Reject(
                f"only {display_name(document.author)}, its author, can lock or unlock it",
                code="forbidden",
            )
        document.locked = locked
        document.save(update_fields=["locked", "updated"])
        event = {"type": "locked", "document": document.as_data(), "by": _who(user)}
        transaction.on_commit(lambda: courant.publish(document_topic(pk), event))
    return document


def notify_author(user: Any, document: Document, mode: str) -> bool:
    """Tell ``document``'s author that ``user`` opened it, unless ``user`` is the author
    or already had it open in another page (one notification per opening, however many
    tabs or reconnections). Returns whether the author was told.

    Call it after the page is tracked on the document's topic: the page itself is then
    one of the user's presence entries there."""
    if user.pk == document.author_id:
        return False
    entries = courant.presence(document_topic(document.pk)).get(str(user.pk), [])
    if len(entries) > 1:
        return False
    verb = "edit" if mode == "editing" else "read"
    # The author's own topic, user:<id>: every page of theirs shows it as a notification.
    notify_user(
        document.author_id,
        f"{display_name(user)} opened {document.title}",
        f"{display_name(user)} opened your document to {verb} it.",
        document.get_absolute_url(),
    )
    return True


def _get(pk: int) -> Document:
    document = Document.objects.select_related("author", "updated_by").filter(pk=pk).first()
    if document is None:
        raise courant.Reject(f"there is no document {pk}", code="not_found")
    return document


def _who(user: Any) -> dict[str, Any]:
    return {"id": user.pk, "name": display_name(user)}

"""The board's topics, binding and RPC methods (Courant imports this module at start-up).

Each document has a topic, ``doc:<id>``. Its page subscribes with a presence meta
``{"mode": "reading" | "editing"}`` and is counted there; the dashboard subscribes to every
document it shows without a meta, so it watches who is where without being counted. The
server publishes the document's events there: ``saved`` and ``locked``
(documents.py). Pages save through the RPC method ``board.save``, which checks the
permission; nobody publishes to a document's topic from a client.

The list of documents itself is ``board:docs``, fed by ``DocumentBinding``: every document
created, renamed, locked or deleted (from the board, the admin or the shell) reaches the
dashboards, which keep their cards with ``client.sync()``.
"""

from __future__ import annotations

from typing import Any

import courant
from demo.topics import display_name

from .documents import notify_author, save_document, set_locked
from .models import BODY_MAX, TITLE_MAX, Document

MODES = ("reading", "editing")
#: The topic of the list of documents (DocumentBinding).
DOCUMENTS = "board:docs"


def _document_id(value: Any) -> int | None:
    """The document id a topic field or a parameter names, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


class DocumentTopic(courant.Topic):
    """``doc:<id>``: logged-in users follow a document that exists; presence says who has
    it open and how. ``clean_presence`` names the user from the session (a page cannot
    pretend to be someone else) and refuses ``editing`` to whoever may not save it."""

    pattern = "doc:{id}"
    presence = True

    def can_subscribe(self, user: Any, id: str) -> bool:
        pk = _document_id(id)
        return bool(user.is_authenticated and pk and Document.objects.filter(pk=pk).exists())

    def clean_presence(self, user: Any, meta: Any, id: str) -> dict[str, str]:
        mode = meta.get("mode") if isinstance(meta, dict) else None
        if mode not in MODES:
            raise courant.Reject('mode is "reading" or "editing"')
        if mode == "editing":
            pk = _document_id(id)
            document = None if pk is None else Document.objects.filter(pk=pk).first()
            if document is None or not document.can_edit(user):
                raise courant.Reject("this document is locked by its author", code="forbidden")
        return {"mode": mode, "name": display_name(user)}


class DocumentBinding(courant.Binding):
    """Every change of a document, as its dashboard card (no text: the dashboard shows
    none), to ``board:docs``."""

    model = Document

    def topics(self, document: Document) -> list[str]:
        return [DOCUMENTS]

    def serialize(self, document: Document) -> dict[str, Any]:
        return document.as_card()


class DocumentList(courant.Topic):
    """``board:docs``: the documents, for logged-in users; only the server publishes."""

    pattern = DOCUMENTS

    def can_subscribe(self, user: Any) -> bool:
        return bool(user.is_authenticated)


def _params(params: Any, *required: str) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise courant.Reject(f"params are an object with {', '.join(required)}", code="invalid")
    missing = [name for name in required if name not in params]
    if missing:
        raise courant.Reject(f"missing {', '.join(missing)}", code="invalid")
    return params


def _pk(params: dict[str, Any]) -> int:
    pk = _document_id(params["id"])
    if pk is None:
        raise courant.Reject("id is a document's id, a positive integer", code="invalid")
    return pk


def _login(user: Any) -> None:
    if not user.is_authenticated:
        raise courant.Reject("log in first", code="forbidden")


@courant.method("board.save")
def save(user: Any, params: Any) -> dict[str, Any]:
    """``{id, title, body, revision}`` -> the saved document. ``revision`` is the one the
    editor started from: if someone saved since, the save is refused (``conflict``)."""
    _login(user)
    params = _params(params, "id", "title", "body", "revision")
    title, body, revision = params["title"], params["body"], params["revision"]
    if not isinstance(title, str) or not title.strip():
        raise courant.Reject("a document needs a title", code="invalid")
    if len(title) > TITLE_MAX:
        raise courant.Reject(f"a title is at most {TITLE_MAX} characters", code="invalid")
    if not isinstance(body, str) or len(body) > BODY_MAX:
        raise courant.Reject(f"the text is at most {BODY_MAX} characters", code="invalid")
    if not isinstance(revision, int) or isinstance(revision, bool):
        raise courant.Reject("revision is the revision the editor started from", code="invalid")
    return save_document(user, _pk(params), title.strip(), body, revision).as_data()


@courant.method("board.lock")
def lock(user: Any, params: Any) -> dict[str, Any]:
    """``{id, locked}`` -> the document: its author locks (only they may save) or
    unlocks it."""
    _login(user)
    params = _params(params, "id", "locked")
    if not isinstance(params["locked"], bool):
        raise courant.Reject("locked is true or false", code="invalid")
    return set_locked(user, _pk(params), params["locked"]).as_data()


@courant.method("board.opened")
def opened(user: Any, params: Any) -> dict[str, bool]:
    """``{id, mode}``: the page of document ``id`` opened. Its author is told, once per
    opening: pages call it once when they load, after subscribing to the document's
    topic, never again on a reconnection. -> ``{"notified": bool}``."""
    _login(user)
    params = _params(params, "id", "mode")
    if params["mode"] not in MODES:
        raise courant.Reject('mode is "reading" or "editing"', code="invalid")
    document = Document.objects.select_related("author").filter(pk=_pk(params)).first()
    if document is None:
        raise courant.Reject("there is no such document", code="not_found")
    return {"notified": notify_author(user, document, params["mode"])}


@courant.method("board.documents")
def documents(user: Any, params: Any) -> list[dict[str, Any]]:
    """Every document's card, as ``client.sync("board:docs", {load})`` takes them: the
    dashboard's state after a gap in ``board:docs``."""
    _login(user)
    return DocumentBinding().rows(Document.objects.select_related("author", "updated_by"))

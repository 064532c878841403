"""The example board's server side (example/board): the RPC methods that save and lock
documents and tell authors who opened them, and the document topic's presence, through
the whole in-process stack of the topics endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from board.models import Document
from courant.testing import WebSocketClient
from courant.topics import registry
from tests.asgi import application
from tests.test_endpoint import Endpoint, error

pytestmark = pytest.mark.django_db(transaction=True)


async def user(username: str, first_name: str = "") -> Any:
    return await get_user_model().objects.acreate(username=username, first_name=first_name)


async def document(author: Any, *, locked: bool = False, title: str = "Plan") -> Document:
    return await Document.objects.acreate(
        title=title, body="first draft", author=author, locked=locked
    )


async def call(ws: Endpoint, method: str, params: Any) -> Any:
    """The answer to an RPC call: its result, or ("code", "message") when refused."""
    answer = await ws.ask("call", method=method, params=params)
    return answer["result"] if answer["ok"] else error(answer)


def save_params(doc: Document, **changes: Any) -> dict[str, Any]:
    return {"id": doc.pk, "title": "Plan B", "body": "new text", "revision": 1, **changes}


async def watch(ws: Endpoint, topic: str) -> None:
    """Subscribe without presence; read the presence frame that follows."""
    assert (await ws.ask("subscribe", topic=topic))["type"] == "subscribed"
    assert (await ws.receive_json())["type"] == "presence"


async def test_a_save_is_stored_and_reaches_the_documents_pages_with_who_saved():
    ada, ben = await user("ada", "Ada"), await user("ben", "Ben")
    doc = await document(ada)
    async with Endpoint(user=ada) as reader, Endpoint(user=ben) as editor:
        await watch(reader, f"doc:{doc.pk}")
        saved = await call(editor, "board.save", save_params(doc, title="  Plan B  "))
        assert saved["title"] == "Plan B"  # trimmed
        assert saved["revision"] == 2
        assert saved["updated_by"] == {"id": ben.pk, "name": "Ben"}
        event = (await reader.receive_json())["data"]
        assert event["type"] == "saved"
        assert event["by"] == {"id": ben.pk, "name": "Ben"}
        assert event["document"] == saved
    stored = await Document.objects.aget(pk=doc.pk)
    assert (stored.title, stored.body, stored.revision) == ("Plan B", "new text", 2)
    assert stored.updated_by_id == ben.pk


async def test_a_locked_document_is_saved_by_its_author_only():
    ada, ben = await user("ada", "Ada"), await user("ben", "Ben")
    doc = await document(ada, locked=True)
    async with Endpoint(user=ben) as ws:
        assert await call(ws, "board.save", save_params(doc)) == (
            "forbidden",
            "Ada locked this document: only they can save it",
        )
    stored = await Document.objects.aget(pk=doc.pk)
    assert (stored.title, stored.revision) == ("Plan", 1)  # untouched
    async with Endpoint(user=ada) as ws:
        assert (await call(ws, "board.save", save_params(doc)))["revision"] == 2


async def test_anonymous_users_save_nothing():
    doc = await document(await user("ada"))
    async with Endpoint() as ws:
        assert await call(ws, "board.save", save_params(doc)) == ("forbidden", "log in first")
        assert (await call(ws, "board.lock", {"id": doc.pk, "locked": True}))[0] == "forbidden"
        assert (await call(ws, "board.opened", {"id": doc.pk, "mode": "reading"}))[0] == (
            "forbidden"
        )
    assert (await Document.objects.aget(pk=doc.pk)).revision == 1


async def test_a_save_over_an_older_revision_is_refused_instead_of_overwriting():
    ada, ben = await user("ada", "Ada"), await user("ben", "Ben")
    doc = await document(ada)
    async with Endpoint(user=ada) as first, Endpoint(user=ben) as second:
        # Both opened revision 1; Ada saves first.
        assert (await call(first, "board.save", save_params(doc, body="Ada's")))["revision"] == 2
        code, message = await call(second, "board.save", save_params(doc, body="Ben's"))
        assert code == "conflict"
        assert message.startswith("Ada saved a newer version")
        # Ben, from the revision he now has, saves over it.
        assert (await call(second, "board.save", save_params(doc, revision=2)))["revision"] == 3
    assert (await Document.objects.aget(pk=doc.pk)).body == "new text"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([1, 2], ("invalid", "params are an object with id, title, body, revision")),
        ({"id": 1}, ("invalid", "missing title, body, revision")),
    ],
)
async def test_malformed_saves_get_clear_errors(params, expected):
    async with Endpoint(user=await user("ada")) as ws:
        assert await call(ws, "board.save", params) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"title": "   "}, ("invalid", "a document needs a title")),
        ({"title": "x" * 121}, ("invalid", "a title is at most 120 characters")),
        ({"body": None}, ("invalid", "the text is at most 20000 characters")),
        ({"body": "x" * 20_001}, ("invalid", "the text is at most 20000 characters")),
        ({"revision": True}, ("invalid", "revision is the revision the editor started from")),
        ({"id": "1; drop"}, ("invalid", "id is a document's id, a positive integer")),
        ({"id": -3}, ("invalid", "id is a document's id, a positive integer")),
        ({"id": 999_999}, ("not_found", "there is no document 999999")),
    ],
)
async def test_bad_saves_get_clear_errors_and_change_nothing(changes, expected):
    ada = await user("ada")
    doc = await document(ada)
    async with Endpoint(user=ada) as ws:
        assert await call(ws, "board.save", save_params(doc, **changes)) == expected
    assert (await Document.objects.aget(pk=doc.pk)).revision == 1


async def test_only_the_author_locks_and_the_pages_are_told():
    ada, ben = await user("ada", "Ada"), await user("ben", "Ben")
    doc = await document(ada)
    async with Endpoint(user=ben) as bens, Endpoint(user=ada) as adas:
        await watch(bens, f"doc:{doc.pk}")
        assert await call(bens, "board.lock", {"id": doc.pk, "locked": True}) == (
            "forbidden",
            "only Ada, its author, can lock or unlock it",
        )
        assert (await call(adas, "board.lock", {"id": doc.pk, "locked": "yes"}))[0] == "invalid"
        assert (await call(adas, "board.lock", {"id": doc.pk, "locked": True}))["locked"] is True
        event = (await bens.receive_json())["data"]
        assert (event["type"], event["document"]["locked"], event["by"]["name"]) == (
            "locked",
            True,
            "Ada",
        )
        assert (await call(bens, "board.save", save_params(doc)))[0] == "forbidden"


async def test_presence_is_the_mode_with_the_name_the_server_knows():
    ada, ben = await user("ada", "Ada"), await user("ben")
    doc = await document(ada, locked=True)
    topic = f"doc:{doc.pk}"
    async with Endpoint(user=ben) as ws:
        answer = await ws.ask("subscribe", topic=topic, presence={"mode": "dancing"})
        assert error(answer) == ("rejected", 'mode is "reading" or "editing"')
        # Editing a document one may not save is refused; reading it is fine.
        answer = await ws.ask("subscribe", topic=topic, presence={"mode": "editing"})
        assert error(answer) == ("forbidden", "this document is locked by its author")
        meta = {"mode": "reading", "name": "Ada"}  # pretending to be someone else
        assert (await ws.ask("subscribe", topic=topic, presence=meta))["type"] == "subscribed"
        members = (await ws.receive_json())["members"]
        assert members == {str(ben.pk): [{"mode": "reading", "name": "ben"}]}
    async with Endpoint(user=ada) as ws:
        await ws.ask("subscribe", topic=topic, presence={"mode": "editing"})
        members = (await ws.receive_json())["members"]
        assert members == {str(ada.pk): [{"mode": "editing", "name": "Ada"}]}


@pytest.mark.parametrize("topic", ["doc:999999", "doc:abc", "doc:0"])
async def test_only_existing_documents_have_a_topic(topic):
    async with Endpoint(user=await user("ada")) as ws:
        assert error(await ws.ask("subscribe", topic=topic))[0] == "forbidden"


async def test_anonymous_users_cannot_follow_a_document():
    doc = await document(await user("ada"))
    async with Endpoint() as ws:
        assert error(await ws.ask("subscribe", topic=f"doc:{doc.pk}"))[0] == "forbidden"


async def open_document(ws: Endpoint, doc: Document, mode: str = "reading") -> Any:
    """What a document's page does when it loads: subscribe with presence, then tell."""
    await ws.ask("subscribe", topic=f"doc:{doc.pk}", presence={"mode": mode})
    assert (await ws.receive_json())["type"] == "presence"
    return await call(ws, "board.opened", {"id": doc.pk, "mode": mode})


async def test_the_author_hears_once_per_opening_and_never_of_their_own():
    ada, ben = await user("ada", "Ada"), await user("ben", "Ben")
    doc = await document(ada, title="Release plan")
    async with WebSocketClient(application, f"/ws/listen/user:{ada.pk}/") as inbox:
        assert await inbox.receive_json() == "listening"
        async with Endpoint(user=ada) as own:
            assert await open_document(own, doc) == {"notified": False}
        assert await inbox.receive_nothing()
        async with Endpoint(user=ben) as first:
            assert await open_document(first, doc, "editing") == {"notified": True}
            assert await inbox.receive_json() == {
                "title": "Ben opened Release plan",
                "body": "Ben opened your document to edit it.",
                "url": f"/board/{doc.pk}/",
            }
            # A second tab of Ben's while the first is still open: no second notice.
            async with Endpoint(user=ben) as second:
                assert await open_document(second, doc) == {"notified": False}
            assert await inbox.receive_nothing()
        # Ben closed it; opening it again is a new opening.
        async with Endpoint(user=ben) as again:
            assert await open_document(again, doc) == {"notified": True}
        assert (await inbox.receive_json())["body"] == "Ben opened your document to read it."


async def test_bad_openings_get_clear_errors():
    ada = await user("ada")
    async with Endpoint(user=ada) as ws:
        assert await call(ws, "board.opened", {"id": 1, "mode": "skimming"}) == (
            "invalid",
            'mode is "reading" or "editing"',
        )
        assert await call(ws, "board.opened", {"id": 999_999, "mode": "reading"}) == (
            "not_found",
            "there is no such document",
        )
        assert (await call(ws, "board.opened", None))[0] == "invalid"


def page_documents(response: Any) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = response.context["documents"]
    return documents


def test_the_pages_are_for_logged_in_users(client):
    for path in ("/board/", "/board/1/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_the_dashboard_gets_every_documents_card_without_its_text(client):
    ada = get_user_model().objects.create(username="ada", first_name="Ada")
    Document.objects.all().delete()
    for title in ("Zebra", "Apple"):
        Document.objects.create(title=title, body="secret", author=ada)
    client.force_login(ada)
    response = client.get("/board/")
    rows = page_documents(response)
    assert [row["title"] for row in rows] == ["Apple", "Zebra"]
    assert all(row["pk"] == row["id"] and "body" not in row for row in rows)
    assert rows[0]["author"] == {"id": ada.pk, "name": "Ada"}
    # The page shows them fifty at a time: each shown is a topic the page follows, and a
    # connection follows at most MAX_SUBSCRIPTIONS (100) topics.
    assert response.context["per_page"] == 50


def test_a_locked_document_opens_for_reading_even_asked_for_editing(client):
    ada = get_user_model().objects.create(username="ada", first_name="Ada")
    ben = get_user_model().objects.create(username="ben")
    doc = Document.objects.create(title="Plan", author=ada, locked=True)
    client.force_login(ben)
    response = client.get(f"/board/{doc.pk}/?mode=edit")
    assert response.context["mode"] == "reading"
    assert b"Ada locked this document: you can read it, not edit it." in response.content
    client.force_login(ada)
    assert client.get(f"/board/{doc.pk}/?mode=edit").context["mode"] == "editing"
    assert client.get("/board/999999/").status_code == 404


def test_a_new_document_opens_for_editing_by_its_author(client):
    ada = get_user_model().objects.create(username="ada")
    client.force_login(ada)
    response = client.post("/board/new/", {"title": "  Ideas  "})
    created = Document.objects.get(title="Ideas")
    assert (created.author, created.updated_by, created.revision) == (ada, ada, 1)
    assert response["Location"] == f"/board/{created.pk}/?mode=edit"
    assert client.get("/board/new/").status_code == 405


async def test_board_documents_loads_every_card_for_logged_in_users():
    ada = await user("ada", "Ada")
    await Document.objects.all().adelete()
    doc = await document(ada)
    async with Endpoint(user=ada) as ws:
        (row,) = await call(ws, "board.documents", None)
        assert (row["pk"], row["title"], row["locked"]) == (doc.pk, "Plan", False)
    async with Endpoint() as ws:
        assert (await call(ws, "board.documents", None))[0] == "forbidden"


def test_board_docs_is_the_boards_own_topic_in_this_project():
    # tests/topics.py has "board:{id}" too: the board's class, defined first, wins.
    found = registry.match("board:docs")
    assert type(found).__name__ == "DocumentList"


async def test_every_change_of_a_document_reaches_the_dashboards():
    ada, ben = await user("ada", "Ada"), await user("ben", "Ben")
    async with Endpoint(user=ben) as dashboard, Endpoint(user=ada) as page:
        assert (await dashboard.ask("subscribe", topic="board:docs"))["type"] == "subscribed"
        doc = await document(ada, title="Plan")
        created = (await dashboard.receive_json())["data"]
        assert (created["action"], created["pk"], created["data"]["title"]) == (
            "create",
            doc.pk,
            "Plan",
        )
        assert "body" not in created["data"]
        await call(page, "board.save", save_params(doc, title="Plan B"))
        renamed = (await dashboard.receive_json())["data"]
        assert (renamed["action"], renamed["data"]["title"], renamed["data"]["revision"]) == (
            "update",
            "Plan B",
            2,
        )
        await call(page, "board.lock", {"id": doc.pk, "locked": True})
        assert (await dashboard.receive_json())["data"]["data"]["locked"] is True
        # A refused save changes nothing, and says nothing.
        assert (await call(page, "board.save", save_params(doc, revision=1)))[0] == "conflict"
        assert await dashboard.receive_nothing()
        await doc.adelete()
        assert (await dashboard.receive_json())["data"]["action"] == "delete"

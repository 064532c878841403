"""The demo site's server side, in-process: its pages, the blog's editor, and what its
topic classes and RPC methods allow (the browser tests, tests/browser/test_demo.py, run
the same pages in Chromium)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from blog.models import Post

from .test_endpoint import Endpoint, error


@pytest.fixture
def users(db: None) -> dict[str, Any]:
    Post.objects.all().delete()  # the demo's own posts (a data migration seeds them)
    model = get_user_model()
    return {
        "alice": model.objects.create_user(
            "alice-t", password="pw", first_name="Alice", is_staff=True
        ),
        "bob": model.objects.create_user("bob-t", password="pw", first_name="Bob"),
    }


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


# -- pages -------------------------------------------------------------------------------------


def test_the_home_page_links_every_app(users):
    Post.objects.create(title="One", body="x", author=users["alice"])
    Post.objects.create(title="Draft", body="x", author=users["alice"], published=False)
    page = Client().get("/").content.decode()
    for href in ('href="/blog/"', 'href="/chat/"', 'href="/status/"'):
        assert href in page
    assert "1 post<" in page  # drafts are not counted


def test_the_status_page_shows_the_engine_and_this_process(users):
    page = Client().get("/status/").content.decode()
    assert "courant.engines.memory.MemoryEngine" in page
    assert "<code>memory://</code>" in page
    assert f'data-stat="pid">{os.getpid()}<' in page


def test_the_layout_knows_the_user(users):
    page = logged_in(users["bob"]).get("/status/").content.decode()
    assert f'data-user-id="{users["bob"].pk}"' in page
    assert 'data-user-name="Bob"' in page
    assert "data-online" in page
    assert "data-notify-permission" in page
    anonymous = Client().get("/status/").content.decode()
    assert 'data-user-id=""' in anonymous
    assert "data-online" not in anonymous


# -- the blog ------------------------------------------------------------------------------------


def test_readers_see_published_posts_only_newest_first(users):
    alice = users["alice"]
    Post.objects.create(title="Older", body="a", author=alice)
    Post.objects.create(title="Secret draft", body="b", author=alice, published=False)
    Post.objects.create(title="Newer", body="c", author=alice)
    page = Client().get("/blog/").content.decode()
    assert page.index("Newer") < page.index("Older")
    assert "Secret draft" not in page


@pytest.mark.parametrize("who", [None, "bob"])
def test_the_editor_is_for_staff_only(users, who):
    client = Client() if who is None else logged_in(users[who])
    for path in ("/blog/editor/", "/blog/editor/new/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    assert client.post("/blog/editor/new/", {"title": "x", "body": "y"}).status_code == 302
    assert not Post.objects.exists()


def test_staff_create_edit_unpublish_and_delete_posts(users):
    alice = logged_in(users["alice"])
    response = alice.post(
        "/blog/editor/new/", {"title": "Hello", "body": "First words", "published": "on"}
    )
    assert response.status_code == 302
    post = Post.objects.get()
    assert (post.title, post.author, post.published) == ("Hello", users["alice"], True)
    assert "Hello" in Client().get("/blog/").content.decode()

    alice.post(f"/blog/editor/{post.pk}/", {"title": "Hello again", "body": "Edited"})
    post.refresh_from_db()
    assert (post.title, post.body, post.published) == ("Hello again", "Edited", False)
    assert "Hello again" not in Client().get("/blog/").content.decode()  # a draft now
    assert "Hello again" in alice.get("/blog/editor/").content.decode()

    # An invalid form is shown again with its errors, and changes nothing.
    response = alice.post(f"/blog/editor/{post.pk}/", {"title": "", "body": "x"})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()

    assert "Delete “Hello again”?" in alice.get(f"/blog/editor/{post.pk}/delete/").content.decode()
    assert Post.objects.exists()  # a GET only asks
    alice.post(f"/blog/editor/{post.pk}/delete/")
    assert not Post.objects.exists()
    assert alice.get(f"/blog/editor/{post.pk}/").status_code == 404


# -- topic classes and RPC ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_demo_stats_answers_with_this_process_counts():
    async with Endpoint() as ws:
        result = (await ws.ask("call", method="demo.stats"))["result"]
    assert result["engine"] == "memory"
    assert result["urls"] == ["memory://"]
    assert result["connections"] == 1  # this very client
    assert result["pid"] == os.getpid()


@pytest.mark.django_db(transaction=True)
async def test_site_online_counts_logged_in_users_by_name():
    bob = await get_user_model().objects.acreate(username="bob-t", first_name="Bob")
    async with Endpoint() as anonymous:
        answer = await anonymous.ask("subscribe", topic="site:online", presence={})
        assert error(answer)[0] == "forbidden"
    async with Endpoint(user=bob) as ws:
        answer = await ws.ask("subscribe", topic="site:online", presence={"name": "Mallory"})
        assert answer["type"] == "subscribed"
        frame = await ws.receive_json()
    assert frame["type"] == "presence"
    assert frame["members"] == {str(bob.pk): [{"name": "Bob"}]}  # not what the page claimed
    async with Endpoint(user=bob) as ws:
        assert error(await ws.ask("publish", topic="site:online", data="hi"))[0] == "forbidden"


@pytest.mark.django_db(transaction=True)
async def test_a_user_topic_is_for_that_user_only_and_server_published():
    model = get_user_model()
    alice = await model.objects.acreate(username="alice-t")
    bob = await model.objects.acreate(username="bob-t")
    async with Endpoint(user=bob) as ws:
        assert (await ws.ask("subscribe", topic=f"user:{bob.pk}"))["type"] == "subscribed"
        assert error(await ws.ask("subscribe", topic=f"user:{alice.pk}"))[0] == "forbidden"
        assert error(await ws.ask("publish", topic=f"user:{bob.pk}", data={}))[0] == "forbidden"
    async with Endpoint() as anonymous:
        assert error(await anonymous.ask("subscribe", topic=f"user:{bob.pk}"))[0] == "forbidden"


@pytest.mark.django_db(transaction=True)
async def test_a_chat_mention_notifies_the_user_mentioned():
    model = get_user_model()
    alice = await model.objects.acreate(username="alice-t", first_name="Alice")
    bob = await model.objects.acreate(username="bob-t")
    async with Endpoint(user=bob) as bobs, Endpoint(user=alice) as alices:
        await bobs.ask("subscribe", topic=f"user:{bob.pk}")
        await alices.ask("subscribe", topic=f"user:{alice.pk}")
        await alices.ask("subscribe", topic="chat:tea")
        assert (await alices.receive_json())["type"] == "presence"  # the room's, empty
        await alices.op("publish", topic="chat:tea", data={"text": "@bob-t and @alice-t, tea?"})
        told = await bobs.receive_json()
        assert told["topic"] == f"user:{bob.pk}"
        assert told["data"] == {
            "title": "Alice mentioned you in #tea",
            "body": "@bob-t and @alice-t, tea?",
            "url": "/chat/tea/",
        }
        # The room got the message; alice, who mentioned herself, was not told.
        frames = [await alices.receive_json(), await alices.receive_json()]
        assert {frame["type"] for frame in frames} == {"reply", "message"}
        assert await alices.receive_nothing()


@pytest.mark.django_db(transaction=True)
async def test_chat_presence_shows_the_name_and_whether_the_user_types():
    bob = await get_user_model().objects.acreate(username="bob-t")
    async with Endpoint(user=bob) as ws:
        await ws.ask("subscribe", topic="chat:tea", presence={"typing": False, "name": "x"})
        frame = await ws.receive_json()
        assert frame["members"] == {str(bob.pk): [{"name": "bob-t", "typing": False}]}
        await ws.op("presence", topic="chat:tea", meta={"typing": True})
        frames = {frame["type"]: frame for frame in [await ws.receive_json() for _ in "12"]}
        assert frames["reply"]["ok"] is True
        updates = frames["presence_diff"]["updates"]
        assert updates == {str(bob.pk): [{"name": "bob-t", "typing": True}]}
        answer = await ws.ask("presence", topic="chat:tea", meta={"typing": "yes"})
        assert error(answer) == ("rejected", "typing is true or false")
        assert await ws.receive_nothing()  # the meta stays as it was


@pytest.mark.django_db(transaction=True)
async def test_blog_posts_are_for_anyone_to_follow_and_nobody_to_publish():
    async with Endpoint() as anonymous:
        assert (await anonymous.ask("subscribe", topic="blog:posts"))["type"] == "subscribed"
        answer = await anonymous.ask("publish", topic="blog:posts", data={"title": "spam"})
        assert error(answer)[0] == "forbidden"


@pytest.mark.django_db(transaction=True)
async def test_readers_hear_of_published_posts_only_and_never_of_a_draft_content():
    alice = await get_user_model().objects.acreate(username="alice-t", first_name="Alice")
    async with Endpoint() as reader:  # anonymous: anyone may read
        assert (await reader.ask("subscribe", topic="blog:posts"))["type"] == "subscribed"
        draft = await Post.objects.acreate(title="Secret", body="s", author=alice, published=False)
        assert await reader.receive_nothing()  # a new draft: withheld by can_receive
        post = await Post.objects.acreate(title="Hello", body="b", author=alice)
        created = (await reader.receive_json())["data"]
        assert (created["action"], created["pk"]) == ("create", post.pk)
        assert created["data"]["title"] == "Hello"
        assert created["data"]["author"] == "Alice"
        assert created["data"]["published"] is True

        post.published = False
        await post.asave()  # unpublished: readers are told, without its content
        unpublished = (await reader.receive_json())["data"]
        assert unpublished == {"action": "update", "pk": post.pk, "data": {"published": False}}
        draft.title = "Secret, revised"
        await draft.asave()
        assert (await reader.receive_json())["data"]["data"] == {"published": False}
        pk = draft.pk
        await draft.adelete()
        deleted = (await reader.receive_json())["data"]
        assert deleted == {"action": "delete", "pk": pk, "data": {"published": False}}


@pytest.mark.django_db(transaction=True)
async def test_the_blog_posts_method_loads_the_published_posts_as_rows():
    alice = await get_user_model().objects.acreate(username="alice-t")
    await Post.objects.all().adelete()
    older = await Post.objects.acreate(title="Older", body="a", author=alice)
    await Post.objects.acreate(title="Draft", body="b", author=alice, published=False)
    newer = await Post.objects.acreate(title="Newer", body="c", author=alice)
    async with Endpoint() as ws:
        rows = (await ws.ask("call", method="blog.posts"))["result"]
    assert [(row["pk"], row["title"]) for row in rows] == [
        (newer.pk, "Newer"),
        (older.pk, "Older"),
    ]

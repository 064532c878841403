"""The topics endpoint over the whole in-process stack: topic classes, RPC, limits."""

import logging
from typing import Any

import pytest
import redis
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

import courant
from courant import CloseCode
from courant.hub import get_hub
from courant.testing import WebSocketClient
from tests.asgi import application

from .redis_support import REDIS_URL, delete_keys, new_prefix, require_redis, with_prefix


class Endpoint(WebSocketClient):
    """A client of /courant/ that numbers its ops and reads the hello first."""

    def __init__(self, **options: Any) -> None:
        super().__init__(application, "/courant/", **options)
        self.next_id = 0

    async def __aenter__(self) -> "Endpoint":
        await super().__aenter__()
        assert await self.receive_json() == {
            "type": "hello",
            "version": 1,
            "transport": "websocket",
        }
        return self

    async def op(self, op: str, **fields: Any) -> int:
        self.next_id += 1
        await self.send_json({"op": op, "id": self.next_id, **fields})
        return self.next_id

    async def ask(self, op: str, **fields: Any) -> Any:
        """Send an op and return its answer (frames before it must not come)."""
        op_id = await self.op(op, **fields)
        answer = await self.receive_json()
        assert answer["id"] == op_id, answer
        return answer


def error(answer: dict[str, Any]) -> tuple[str, str]:
    assert answer["type"] == "reply", answer
    assert answer["ok"] is False, answer
    return answer["error"]["code"], answer["error"]["message"]


async def test_subscribe_then_receive_what_is_published_from_anywhere():
    async with Endpoint() as ws:
        answer = await ws.ask("subscribe", topic="open:news")
        assert answer["type"] == "subscribed"
        assert answer["recovered"] is False
        first = await courant.apublish("open:news", {"headline": "hi"})
        assert answer["offset"] == first.offset - 1
        await courant.apublish("open:news", "plain text")
        await courant.apublish("open:news", b"\x00\x01")
        frames = [await ws.receive_json() for _ in range(3)]
    assert [f["data"] for f in frames] == [{"headline": "hi"}, "plain text", "AAE="]
    assert frames[2]["binary"] is True
    assert [f["offset"] for f in frames] == [first.offset, first.offset + 1, first.offset + 2]
    assert {(f["type"], f["topic"], f["epoch"]) for f in frames} == {
        ("message", "open:news", first.epoch)
    }


async def test_a_client_publishes_to_every_subscriber_itself_included():
    async with Endpoint() as alice, Endpoint() as bob:
        await alice.ask("subscribe", topic="open:room")
        await bob.ask("subscribe", topic="open:room")
        op_id = await alice.op("publish", topic="open:room", data={"text": "hello"})
        frames = [await alice.receive_json(), await alice.receive_json()]
        received = await bob.receive_json()
    message = next(f for f in frames if f["type"] == "message")
    reply = next(f for f in frames if f["type"] == "reply")
    assert message["data"] == received["data"] == {"text": "hello"}
    assert reply == {
        "type": "reply",
        "id": op_id,
        "ok": True,
        "result": {"epoch": message["epoch"], "offset": message["offset"]},
    }


async def test_subscribe_since_replays_what_was_missed_before_confirming():
    published = [await courant.apublish("open:replay", n) for n in range(4)]
    since = {"epoch": published[0].epoch, "offset": published[0].offset}
    async with Endpoint() as ws:
        op_id = await ws.op("subscribe", topic="open:replay", since=since)
        frames = [await ws.receive_json() for _ in range(4)]
        assert await ws.receive_nothing()
    assert [f["data"] for f in frames[:3]] == [1, 2, 3]
    assert frames[3] == {
        "type": "subscribed",
        "id": op_id,
        "topic": "open:replay",
        "epoch": published[0].epoch,
        "offset": published[-1].offset,
        "recovered": True,
    }


async def test_subscribe_since_another_epoch_or_past_the_history_says_not_recovered():
    for n in range(8):  # OpenTopic keeps 5
        last = await courant.apublish("open:short", n)
    async with Endpoint() as ws:
        stale = await ws.ask(
            "subscribe", topic="open:short", since={"epoch": last.epoch, "offset": 1}
        )
        assert (stale["type"], stale["recovered"]) == ("subscribed", False)
        await ws.ask("unsubscribe", topic="open:short")
        other = await ws.ask(
            "subscribe", topic="open:short", since={"epoch": "elsewhere", "offset": 7}
        )
        assert (other["recovered"], other["offset"]) == (False, last.offset)
        assert await ws.receive_nothing()  # nothing replayed either time


async def test_topics_no_class_allows_are_refused_and_the_connection_stays_open():
    async with Endpoint() as ws:
        assert error(await ws.ask("subscribe", topic="closed:x")) == (
            "forbidden",
            "not allowed to subscribe to 'closed:x'",
        )
        assert error(await ws.ask("publish", topic="closed:x", data=1))[0] == "forbidden"
        assert error(await ws.ask("subscribe", topic="nowhere:1"))[0] == "unknown_topic"
        assert error(await ws.ask("subscribe", topic="courant:internal"))[0] == "unknown_topic"
        assert error(await ws.ask("subscribe", topic="open:a:b"))[0] == "unknown_topic"
        assert (await ws.ask("ping"))["result"] == "pong"


@pytest.mark.django_db(transaction=True)
async def test_sync_checks_may_use_the_orm():
    user_model = get_user_model()
    member = await user_model.objects.acreate(username="member")
    outsider = await user_model.objects.acreate(username="outsider")
    group = await Group.objects.acreate(name="editors")
    await member.groups.aadd(group)
    async with Endpoint(user=member) as ws:
        assert (await ws.ask("subscribe", topic="members:editors"))["type"] == "subscribed"
        assert error(await ws.ask("subscribe", topic="members:admins"))[0] == "forbidden"
    async with Endpoint(user=outsider) as ws:
        assert error(await ws.ask("subscribe", topic="members:editors"))[0] == "forbidden"


@pytest.mark.django_db(transaction=True)
async def test_clean_reshapes_or_rejects_what_a_client_publishes():
    ada = await get_user_model().objects.acreate(username="ada")
    async with Endpoint(user=ada) as ws:
        await ws.ask("subscribe", topic="stamped:lobby:chat")
        await ws.op("publish", topic="stamped:lobby:chat", data={"text": "hello, everyone"})
        frames = [await ws.receive_json(), await ws.receive_json()]
        message = next(f for f in frames if f["type"] == "message")
        assert message["data"] == {"text": "hello, eve", "user": "ada", "room": "lobby"}
        assert error(await ws.ask("publish", topic="stamped:lobby:chat", data={"text": " "})) == (
            "rejected",
            "a message needs some text",
        )
        assert await ws.receive_nothing()  # the rejected one was not published
    async with Endpoint() as anonymous:
        answer = await anonymous.ask("publish", topic="stamped:lobby:chat", data={"text": "x"})
        assert error(answer)[0] == "forbidden"


@pytest.mark.django_db(transaction=True)
async def test_rpc_methods_answer_with_results_or_errors(caplog):
    ada = await get_user_model().objects.acreate(username="ada")
    async with Endpoint(user=ada) as ws:
        assert (await ws.ask("call", method="math.add", params={"a": 2, "b": 3}))["result"] == 5
        assert (await ws.ask("call", method="whoami"))["result"] == "ada"
        assert error(await ws.ask("call", method="fail.reject")) == ("not_found", "no such room")
        assert error(await ws.ask("call", method="nope"))[0] == "unknown_method"
        with caplog.at_level(logging.ERROR, logger="courant.endpoint"):
            crashed = await ws.ask("call", method="fail.crash")
            unencodable = await ws.ask("call", method="fail.unencodable")
        assert error(crashed) == error(unencodable) == ("internal", "internal error")
        assert "secret detail" not in str(crashed)
        assert "secret detail" in caplog.text  # but the server log has the traceback
        # A method that failed on bad params is an internal error too, and the next works.
        assert error(await ws.ask("call", method="math.add", params=[]))[0] == "internal"
        assert (await ws.ask("call", method="math.add", params={"a": 1, "b": 1}))["result"] == 2


async def test_unsubscribe_stops_the_messages(settings):
    async with Endpoint() as ws:
        await ws.ask("subscribe", topic="open:quiet")
        assert (await ws.ask("unsubscribe", topic="open:quiet"))["result"] is None
        assert (await ws.ask("unsubscribe", topic="open:never"))["ok"] is True
        await courant.apublish("open:quiet", "unheard")
        assert await ws.receive_nothing()


async def test_the_subscription_limit_is_per_connection(settings):
    settings.COURANT = {"MAX_SUBSCRIPTIONS": 2}
    async with Endpoint() as ws:
        await ws.ask("subscribe", topic="open:1")
        await ws.ask("subscribe", topic="open:2")
        code, message = error(await ws.ask("subscribe", topic="open:3"))
        assert (code, message) == ("too_many_subscriptions", "at most 2 topics per connection")
        await ws.ask("unsubscribe", topic="open:1")
        assert (await ws.ask("subscribe", topic="open:3"))["type"] == "subscribed"


async def test_an_oversized_frame_gets_an_error_and_the_connection_stays_open(settings):
    settings.COURANT = {"MAX_FRAME_SIZE": 100}
    async with Endpoint() as ws:
        await ws.op("publish", topic="open:big", data="x" * 200)
        answer = await ws.receive_json()
        assert answer["id"] is None  # too big to be read, so its id is unknown
        assert error(answer) == ("too_big", "frame is larger than 100 bytes")
        assert (await ws.ask("ping"))["result"] == "pong"


async def test_bad_frames_get_errors_until_a_flood_closes_the_connection():
    async with Endpoint() as ws:
        await ws.send_text("{oops")
        assert error(await ws.receive_json()) == ("invalid_json", "frame is not valid JSON")
        await ws.send_bytes(b"\x01")
        assert error(await ws.receive_json())[0] == "invalid_frame"
        assert error(await ws.ask("jump"))[0] == "unknown_op"
        for _ in range(18):  # 21 errors within ten seconds
            await ws.send_text("[]")
            assert error(await ws.receive_json())[0] == "invalid_frame"
        assert await ws.receive_close() == CloseCode.PROTOCOL_ERROR


async def test_a_client_asking_for_an_unknown_protocol_version_is_told_so():
    async with WebSocketClient(application, "/courant/", query_string=b"protocol=2") as ws:
        assert await ws.receive_close() == CloseCode.UNSUPPORTED_PROTOCOL
    async with WebSocketClient(application, "/courant/", query_string=b"protocol=1") as ws:
        assert (await ws.receive_json())["version"] == 1


async def test_the_endpoint_path_is_a_setting(settings):
    settings.COURANT = {"ENDPOINT": "/live/"}
    moved = courant.asgi_application(routes="tests.routing.routes")
    async with WebSocketClient(moved, "/live/") as ws:
        assert (await ws.receive_json())["type"] == "hello"
    settings.COURANT = {"ENDPOINT": None}
    without = courant.asgi_application(routes="tests.routing.routes")
    with pytest.raises(AssertionError, match="refused"):
        async with WebSocketClient(without, "/courant/"):
            pass


@pytest.mark.django_db(transaction=True)
async def test_recheck_unsubscribes_whoever_may_no_longer_subscribe():
    user_model = get_user_model()
    staying = await user_model.objects.acreate(username="staying")
    leaving = await user_model.objects.acreate(username="leaving")
    group = await Group.objects.acreate(name="crew")
    await staying.groups.aadd(group)
    await leaving.groups.aadd(group)
    async with Endpoint(user=staying) as kept, Endpoint(user=leaving) as dropped:
        await kept.ask("subscribe", topic="members:crew")
        await dropped.ask("subscribe", topic="members:crew")
        await leaving.groups.aremove(group)
        await courant.arecheck("members:crew")
        assert await dropped.receive_json() == {
            "type": "unsubscribed",
            "topic": "members:crew",
            "reason": "forbidden",
        }
        await courant.apublish("members:crew", "after")
        assert (await kept.receive_json())["data"] == "after"
        assert await dropped.receive_nothing()


async def test_messages_lost_with_the_engines_history_reach_the_client_as_a_gap(settings):
    """On the Redis engine: the link is cut and the topic's history wiped, as a Redis
    restart without persistence would; the client is told to reload."""
    require_redis()
    prefix = new_prefix()
    settings.COURANT = {"ENGINE": with_prefix(REDIS_URL, prefix)}
    try:
        async with Endpoint() as ws:
            subscribed = await ws.ask("subscribe", topic="open:wiped")
            await courant.apublish("open:wiped", "before")
            assert (await ws.receive_json())["data"] == "before"
            delete_keys(REDIS_URL, prefix)
            kill_link(get_hub().engine)
            gap = await ws.receive_json(timeout=10)
            assert gap["type"] == "gap"
            assert gap["topic"] == "open:wiped"
            assert gap["epoch"] != subscribed["epoch"]
            after = await courant.apublish("open:wiped", "after")
            assert (await ws.receive_json())["offset"] == after.offset == gap["offset"] + 1
    finally:
        await get_hub().engine.close()
        delete_keys(REDIS_URL, prefix)


def kill_link(engine: Any) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for connection in client.client_list():
            if connection["name"] == engine.servers[0].link_name:
                client.client_kill_filter(_id=connection["id"])
    finally:
        client.close()

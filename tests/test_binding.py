"""Model data binding, in-process: what a save, an update and a delete publish, only once
committed; what bypasses it; bad declarations; and ``Topic.can_receive`` on the topics
endpoint, for live messages and recovered ones.

The ORM runs in a thread of its own, as in a sync view or a management command, while the
test's event loop serves the subscribers (the hub's loop, as in a server)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import decimal
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, User
from django.core import serializers
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction

import courant
from courant.binding import _publish, json_safe, unregister
from courant.exceptions import EncodeError
from courant.hub import get_hub
from courant.message import Message, encode

from .models import Gadget
from .test_endpoint import Endpoint

T = TypeVar("T")

pytestmark = pytest.mark.django_db(transaction=True)

MADE = datetime.datetime(2025, 3, 14, 15, 9, 26, 535897, tzinfo=datetime.UTC)


async def orm(function: Callable[[], T]) -> T:
    """Run ``function`` as sync code runs it (a view, a command, the shell): on a thread of
    its own, with its own database connection."""

    def run() -> T:
        try:
            return function()
        finally:
            connections.close_all()

    return await asyncio.to_thread(run)


class Recorder:
    """A subscriber of the hub that keeps ``(topic, data)`` of every message."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self._arrived = asyncio.Event()

    def deliver(self, message: Message) -> None:
        self.received.append((message.topic, message.data))
        self._arrived.set()

    def gap(self, topic: str, position: courant.Position) -> None:
        raise AssertionError(f"a gap in {topic}")

    async def wait_for(self, count: int) -> list[tuple[str, Any]]:
        async with asyncio.timeout(5):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return list(self.received)

    async def nothing(self) -> bool:
        """True if nothing arrives within a moment (the hub's loop is given turns)."""
        await asyncio.sleep(0.2)
        return self.received == []


async def listen(*topics: str) -> Recorder:
    recorder = Recorder()
    for topic in topics:
        await get_hub().join(topic, recorder)
    return recorder


async def test_create_update_and_delete_publish_the_documented_messages_to_every_topic():
    maker = await get_user_model().objects.acreate(username="maker")
    serial = uuid.uuid4()
    gadget = Gadget(name="lamp", price=decimal.Decimal("9.5"), serial=serial, made=MADE)
    gadget.maker = maker
    await orm(gadget.save)
    pk = gadget.pk
    data = {
        "name": "lamp",
        "price": "9.50",  # as the database keeps it: two decimal places
        "serial": str(serial),
        "made": "2025-03-14T15:09:26.535897+00:00",
        "maker": maker.pk,  # a foreign key: the related object's pk
    }
    # Subscribed after the create: the create was published, and is in the history.
    recorder = await listen("gadgets", f"gadget:{pk}")

    def update_then_delete() -> None:
        gadget.name = "desk lamp"
        gadget.save(update_fields=["name"])  # only one column written, all data sent
        Gadget.objects.get(pk=pk).delete()

    await orm(update_then_delete)
    received = await recorder.wait_for(4)
    updated = {**data, "name": "desk lamp"}
    assert sorted(received, key=lambda item: item[0]) == [
        (f"gadget:{pk}", {"action": "update", "pk": pk, "data": updated}),
        (f"gadget:{pk}", {"action": "delete", "pk": pk, "data": updated}),
        ("gadgets", {"action": "update", "pk": pk, "data": updated}),
        ("gadgets", {"action": "delete", "pk": pk, "data": updated}),
    ]
    history = await get_hub().engine.recover("gadgets", courant.Position(
        (await get_hub().engine.position("gadgets")).epoch, 0
    ))  # fmt: skip
    assert [message.data for message in history.messages] == [
        {"action": "create", "pk": pk, "data": data},
        {"action": "update", "pk": pk, "data": updated},
        {"action": "delete", "pk": pk, "data": updated},
    ]


async def test_nothing_is_published_until_the_transaction_commits():
    recorder = await listen("gadgets")
    saved, release = threading.Event(), threading.Event()

    def save_in_a_transaction() -> int:
        with transaction.atomic():
            gadget = Gadget.objects.create(name="kettle")
            gadget.name = "red kettle"
            gadget.save()
            saved.set()
            assert release.wait(5)
        return gadget.pk

    work = asyncio.ensure_future(orm(save_in_a_transaction))
    assert await asyncio.to_thread(saved.wait, 5)
    assert await recorder.nothing()  # saved twice, not committed: nothing yet
    release.set()
    pk = await work
    received = await recorder.wait_for(2)
    assert [(data["action"], data["data"]["name"]) for _, data in received] == [
        ("create", "kettle"),  # each change as it was when made
        ("update", "red kettle"),
    ]
    assert {data["pk"] for _, data in received} == {pk}


async def test_a_rolled_back_save_or_delete_publishes_nothing():
    kept = await orm(lambda: Gadget.objects.create(name="kept"))
    recorder = await listen("gadgets")

    def roll_back() -> None:
        with contextlib.suppress(RuntimeError), transaction.atomic():
            Gadget.objects.create(name="ghost")
            kept.name = "renamed"
            kept.save()
            Gadget.objects.get(pk=kept.pk).delete()
            raise RuntimeError("the view failed")

    await orm(roll_back)
    assert await recorder.nothing()
    assert await orm(lambda: list(Gadget.objects.values_list("name", flat=True))) == ["kept"]


async def test_a_savepoint_rolled_back_drops_its_changes_and_the_outer_ones_commit():
    recorder = await listen("gadgets")

    def nested() -> None:
        with transaction.atomic():
            Gadget.objects.create(name="outer")
            with contextlib.suppress(RuntimeError), transaction.atomic():
                Gadget.objects.create(name="inner")
                raise RuntimeError("undo the savepoint")
            with transaction.atomic():
                Gadget.objects.create(name="second inner")

    await orm(nested)
    await recorder.wait_for(2)
    await asyncio.sleep(0.2)  # and nothing more comes
    assert [data["data"]["name"] for _, data in recorder.received] == ["outer", "second inner"]


async def test_serialize_may_replace_fields_and_topics_may_be_one_name():
    class Summary(courant.Binding):
        model = Gadget

        def topics(self, gadget: Gadget) -> str:
            return "gadget-summaries"

        def serialize(self, gadget: Gadget) -> dict[str, Any]:
            return {"label": gadget.name.upper(), "costly": gadget.price > 100}

    try:
        recorder = await listen("gadget-summaries")
        gadget = await orm(lambda: Gadget.objects.create(name="pump", price=250))
    finally:
        unregister(Summary)
    assert await recorder.wait_for(1) == [
        (
            "gadget-summaries",
            {"action": "create", "pk": gadget.pk, "data": {"label": "PUMP", "costly": True}},
        )
    ]


async def test_a_binding_defined_again_replaces_the_first_and_publishes_once():
    def define(label: str) -> type[courant.Binding]:
        class Twice(courant.Binding):
            model = Gadget
            fields = ["name"]

            def topics(self, gadget: Gadget) -> list[str]:
                return [f"twice:{label}"]

        return Twice

    first, second = define("first"), define("second")  # as a module imported twice
    try:
        recorder = await listen("twice:first", "twice:second")
        await orm(lambda: Gadget.objects.create(name="once"))
        assert [topic for topic, _ in await recorder.wait_for(1)] == ["twice:second"]
        await asyncio.sleep(0.2)
        assert len(recorder.received) == 1
    finally:
        unregister(first)
        unregister(second)


async def test_what_bypasses_signals_publishes_nothing():
    gadget = await orm(lambda: Gadget.objects.create(name="bulk"))
    recorder = await listen("gadgets")

    def bypass() -> None:
        Gadget.objects.filter(pk=gadget.pk).update(name="updated in bulk")
        Gadget.objects.bulk_create([Gadget(name="made in bulk")])
        # loaddata saves "raw": fixtures are not changes anyone is watching.
        fixture = serializers.serialize("json", [Gadget(pk=gadget.pk + 100, name="fixture")])
        for found in serializers.deserialize("json", fixture):
            found.save()

    await orm(bypass)
    assert await recorder.nothing()
    # A queryset's delete() does send signals, one object at a time.
    await orm(lambda: Gadget.objects.filter(name="made in bulk").delete())
    [(_, message)] = await recorder.wait_for(1)
    assert (message["action"], message["data"]["name"]) == ("delete", "made in bulk")


async def test_a_change_that_cannot_be_encoded_fails_the_save_itself():
    class Broken(courant.Binding):
        model = Gadget

        def topics(self, gadget: Gadget) -> list[str]:
            return ["broken"]

        def serialize(self, gadget: Gadget) -> dict[str, Any]:
            return {"gadget": gadget}  # not JSON

    def save() -> None:
        with transaction.atomic():
            Gadget.objects.create(name="unsendable")

    try:
        with pytest.raises(EncodeError, match="Broken cannot publish Gadget"):
            await orm(save)
    finally:
        unregister(Broken)
    # Raised inside the transaction, so it rolled back: nothing changed unseen.
    assert not await Gadget.objects.filter(name="unsendable").aexists()


@pytest.mark.usefixtures("fresh_hub")
async def test_a_failure_to_publish_after_the_commit_is_logged_and_the_save_stands(
    settings, caplog
):
    settings.COURANT = {**settings.COURANT, "ENGINE": "redis://127.0.0.1:1/0"}  # nobody there
    with caplog.at_level(logging.ERROR, logger="courant.binding"):
        gadget = await orm(lambda: Gadget.objects.create(name="committed"))
    assert await Gadget.objects.filter(pk=gadget.pk).aexists()
    failures = [r for r in caplog.records if "after the commit failed" in r.getMessage()]
    assert [r.getMessage() for r in failures] == [
        "GadgetBinding: publishing a change to 'gadgets' after the commit failed",
        f"GadgetBinding: publishing a change to 'gadget:{gadget.pk}' after the commit failed",
    ]


async def test_a_commit_on_the_event_loops_own_thread_publishes_without_blocking_it():
    # The ORM refuses to run on an event loop's thread, unless told it may: then a change
    # committed there is published from a task, instead of waiting on its own loop.
    recorder = await listen("gadgets")
    kind, payload = encode({"action": "create", "pk": 1, "data": {}})
    _publish("LoopBinding", ["gadgets"], kind, payload)
    assert await recorder.wait_for(1) == [("gadgets", {"action": "create", "pk": 1, "data": {}})]


def test_field_values_are_made_json_safe():
    assert json_safe(
        {
            "when": datetime.date(2025, 1, 2),
            "at": datetime.time(8, 30),
            "took": datetime.timedelta(hours=1, seconds=5),
            "raw": b"\x00\xff",
            "nested": [decimal.Decimal("1.10"), uuid.UUID(int=1), None, True],
        }
    ) == {
        "when": "2025-01-02",
        "at": "08:30:00",
        "took": "P0DT01H00M05S",
        "raw": "AP8=",
        "nested": ["1.10", "00000000-0000-0000-0000-000000000001", None, True],
    }


def _declare(**body: Any) -> None:
    namespace = {"topics": lambda self, instance: ["x"], **body}
    cls = type("Declared", (courant.Binding,), namespace)
    unregister(cls)  # (not reached when the declaration is refused)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "tests.Gadget", "fields": ["name"]}, "must be a Django model class"),
        ({"model": AbstractUser, "fields": ["username"]}, "abstract model"),
        ({"model": Gadget, "fields": ["name"], "topics": courant.Binding.topics}, "topics"),
        ({"model": Gadget}, r"fields = \[...\] or serialize"),
        ({"model": Gadget, "fields": "name"}, "a list of field names"),
        ({"model": Gadget, "fields": ["name", "colour"]}, "Gadget has no field 'colour'"),
        ({"model": User, "fields": ["groups"]}, "not a column of the model"),
    ],
)
def test_a_binding_declared_wrong_is_refused_when_defined(body, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        _declare(**body)


def test_a_base_class_without_a_model_binds_nothing():
    class Base(courant.Binding):
        fields = ["name"]

    class Concrete(Base):
        model = Gadget

        def topics(self, gadget: Gadget) -> list[str]:
            return ["x"]

    from courant.binding import registry

    try:
        assert Concrete in registry.values()
        assert Base not in registry.values()
    finally:
        unregister(Concrete)


# -- Topic.can_receive -----------------------------------------------------------------


def test_an_async_can_receive_is_refused_when_defined():
    with pytest.raises(ImproperlyConfigured, match="must be a plain def, not async def"):

        class Slow(courant.Topic):
            pattern = "slow-test:{name}"

            async def can_receive(self, user: Any, data: Any, name: str) -> bool:  # type: ignore[override]
                return True


async def test_can_receive_filters_live_messages_per_subscriber():
    alice = await get_user_model().objects.acreate(username="alice-r")
    bob = await get_user_model().objects.acreate(username="bob-r")
    async with Endpoint(user=alice) as a, Endpoint(user=bob) as b:
        for ws in (a, b):
            assert (await ws.ask("subscribe", topic="addressed:desk"))["type"] == "subscribed"
        await courant.apublish("addressed:desk", {"to": ["bob-r"], "text": "for bob"})
        await courant.apublish("addressed:desk", {"text": "for all"})
        at_b = [await b.receive_json(), await b.receive_json()]
        at_a = await a.receive_json()
        assert await a.receive_nothing()
    assert [f["data"]["text"] for f in at_b] == ["for bob", "for all"]
    assert at_a["data"] == {"text": "for all"}
    # The offset bob saw first is missing at alice's: a hole, not a gap.
    assert at_a["offset"] == at_b[1]["offset"] == at_b[0]["offset"] + 1


async def test_can_receive_filters_what_a_subscribe_since_recovers():
    carol = await get_user_model().objects.acreate(username="carol-r")
    first = await courant.apublish("addressed:inbox", {"text": "before"})
    for text, to in [("one", ["carol-r"]), ("two", ["dave"]), ("three", None)]:
        last = await courant.apublish("addressed:inbox", {"text": text, "to": to})
    async with Endpoint(user=carol) as ws:
        since = {"epoch": first.epoch, "offset": first.offset}
        op_id = await ws.op("subscribe", topic="addressed:inbox", since=since)
        frames = [await ws.receive_json() for _ in range(3)]
        assert await ws.receive_nothing()
    assert [f["data"]["text"] for f in frames[:2]] == ["one", "three"]
    assert frames[2] == {
        "type": "subscribed",
        "id": op_id,
        "topic": "addressed:inbox",
        "epoch": last.epoch,
        "offset": last.offset,
        "recovered": True,
    }


async def test_a_can_receive_that_raises_withholds_the_message_and_is_logged(caplog):
    async with Endpoint() as ws:
        await ws.ask("subscribe", topic="addressed:risky")
        with caplog.at_level(logging.ERROR, logger="courant.endpoint"):
            await courant.apublish("addressed:risky", {"boom": True})
            await courant.apublish("addressed:risky", {"text": "after"})
            assert (await ws.receive_json())["data"] == {"text": "after"}
        assert (await ws.ask("ping"))["result"] == "pong"  # the connection carries on
    assert "AddressedTopic.can_receive() raised" in caplog.text
    assert "can_receive failed on purpose" in caplog.text


async def test_only_connections_with_a_filtered_subscription_check_each_message():
    """The fan-out's hot path: a connection that holds no subscription whose class defines
    can_receive delivers with its plain forward, as before; one that does gets a filter
    only while it holds one."""
    async with Endpoint() as ws:
        await ws.ask("subscribe", topic="open:plain")
        [connection] = get_hub()._topics["open:plain"].subscribers
        assert connection.deliver == connection._forward  # type: ignore[attr-defined]
        await ws.ask("subscribe", topic="addressed:a")
        await ws.ask("subscribe", topic="addressed:b")
        assert connection.deliver != connection._forward  # type: ignore[attr-defined]
        await ws.ask("unsubscribe", topic="addressed:a")
        assert connection.deliver != connection._forward  # type: ignore[attr-defined]
        await courant.apublish("open:plain", "still here")
        assert (await ws.receive_json())["data"] == "still here"
        await ws.ask("unsubscribe", topic="addressed:b")
        assert connection.deliver == connection._forward  # type: ignore[attr-defined]
        await courant.apublish("open:plain", "and here")
        assert (await ws.receive_json())["data"] == "and here"

"""The connection's send queue and state, without a server: ``send`` here is an ASGI
send callable the test controls, standing in for a client that reads or does not."""

import asyncio
import threading

import pytest

from courant import CloseCode, InvalidState
from courant.conf import Settings
from courant.connection import MAX_REASON_BYTES, State, check_close_code
from courant.engines.memory import MemoryEngine
from courant.hub import Hub
from courant.message import Kind, Message
from courant.transports.websocket import WebSocketConnection


class Client:
    """What the ASGI server would do with our events: record them, or block (a client
    whose socket buffer is full) while ``reading`` is cleared."""

    def __init__(self):
        self.events = []
        self.reading = asyncio.Event()
        self.reading.set()

    async def send(self, event):
        await self.reading.wait()
        self.events.append(event)

    def frames(self):
        return [e.get("text", e.get("bytes")) for e in self.events if e["type"] == "websocket.send"]


def make(hub=None, **settings):
    client = Client()
    connection = WebSocketConnection(
        client.send, hub=hub or Hub(MemoryEngine("memory://")), settings=Settings(**settings)
    )
    return client, connection


async def joined(hub, count):
    """``count`` clients, accepted and subscribed to topic ``t``."""
    clients = [make(hub) for _ in range(count)]
    for _, connection in clients:
        await connection.join("t")
        connection.accept()
    await settle()
    return clients


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


async def test_accept_goes_first_even_after_messages_delivered_during_connect():
    client, connection = make()
    await connection.join("t")
    await connection.hub.publish("t", Kind.TEXT, "early")
    connection.accept()
    connection.send_text("own")
    await settle()
    assert client.events[0]["type"] == "websocket.accept"
    assert client.frames() == ["early", "own"]


async def test_wrong_state_actions_raise_invalid_state():
    _, connection = make()
    with pytest.raises(InvalidState, match="before accept"):
        connection.send_text("too early")
    connection.accept()
    with pytest.raises(InvalidState, match="already open"):
        connection.accept()
    with pytest.raises(TypeError):
        connection.send_text(b"bytes")


async def test_close_during_handshake_refuses_and_drops_what_was_queued():
    client, connection = make()
    await connection.join("t")
    await connection.hub.publish("t", Kind.TEXT, "never sent")
    connection.close()
    await settle()
    assert client.events == [{"type": "websocket.close", "code": 1000, "reason": ""}]


async def test_close_after_accept_flushes_then_closes_and_drops_later_frames():
    client, connection = make()
    connection.accept()
    connection.send_text("a")
    connection.send_text("b")
    connection.close(4321, "bye")
    connection.send_text("after close")
    connection.close(1000)  # a second close does nothing
    await settle()
    assert client.frames() == ["a", "b"]
    assert client.events[-1] == {"type": "websocket.close", "code": 4321, "reason": "bye"}
    assert connection.state is State.CLOSING
    assert connection.close_code == 4321


async def test_a_client_that_does_not_read_is_closed_when_its_queue_overflows():
    hub = Hub(MemoryEngine("memory://"))
    stuck_client, stuck = make(hub, send_queue_limit=5)
    healthy_client, healthy = make(hub, send_queue_limit=5)
    for connection in (stuck, healthy):
        await connection.join("t")
        connection.accept()
    await settle()
    stuck_client.reading.clear()
    for index in range(20):
        await hub.publish("t", Kind.TEXT, str(index))
        await settle()
    assert stuck.state is State.CLOSING
    assert stuck.close_code == CloseCode.SEND_QUEUE_FULL
    assert stuck.queued == 1  # its backlog was dropped: only the close waits
    assert healthy_client.frames() == [str(i) for i in range(20)]
    stuck_client.reading.set()
    await settle()
    assert stuck_client.events[-1]["code"] == CloseCode.SEND_QUEUE_FULL


async def test_a_close_the_client_never_takes_is_aborted_after_close_timeout():
    client, connection = make(close_timeout=0.05)
    aborted = asyncio.Event()
    connection.on_abort = aborted.set
    connection.accept()
    await settle()
    client.reading.clear()
    connection.send_text("stuck")
    connection.close()
    await asyncio.wait_for(aborted.wait(), 2)


async def test_finish_stops_everything_and_reports_topics_to_release():
    hub = Hub(MemoryEngine("memory://"))
    _, connection = make(hub)
    await connection.join("a")
    await connection.join("b")
    _, other = make(hub)
    await other.join("b")
    connection.accept()
    released = connection.finish(1006)
    assert sorted(released) == ["a"]  # b still has a local subscriber
    assert connection.topics == set()
    assert hub.subscribers("a") == 0
    assert hub.subscribers("b") == 1
    assert connection.closed
    assert connection.close_code == 1006
    connection.send_text("after the end is dropped")  # no error, nothing queued
    assert connection.queued == 0


async def test_actions_from_another_thread_run_on_the_loop_in_order():
    client, connection = make()
    connection.accept()
    errors = []

    def sync_handler():
        for index in range(20):
            connection.send_text(str(index))
        try:
            connection.accept()
        except InvalidState as exc:
            errors.append(exc)

    thread = threading.Thread(target=sync_handler)
    thread.start()
    await asyncio.to_thread(thread.join)
    await settle()
    assert client.frames() == [str(i) for i in range(20)]
    assert len(errors) == 1  # raised in the calling thread, where the mistake was made


def test_close_codes_a_server_may_send():
    for code in (1000, 1001, 1011, 3000, 4000, 4999):
        assert check_close_code(code) == code
    for code in (999, 1004, 1005, 1006, 1015, 2000, 5000):
        with pytest.raises(ValueError, match=str(code)):
            check_close_code(code)


async def test_long_close_reasons_are_cut_to_what_the_protocol_allows():
    client, connection = make()
    connection.accept()
    connection.close(1000, "é" * 100)
    await settle()
    reason = client.events[-1]["reason"]
    assert len(reason.encode()) <= MAX_REASON_BYTES
    assert reason == "é" * (MAX_REASON_BYTES // 2)


async def test_fan_out_writes_to_an_idle_client_during_the_publish():
    # The writer is idle, so the hub writes right away: no task step per subscriber.
    hub = Hub(MemoryEngine("memory://"))
    clients = await joined(hub, 3)
    hub.engine.publish_blocking("t", Kind.TEXT, "now")  # fans out with no await
    assert [client.frames() for client, _ in clients] == [["now"]] * 3


async def test_a_send_that_must_wait_keeps_its_place_and_the_writer_finishes_it():
    hub = Hub(MemoryEngine("memory://"))
    client, connection = make(hub)
    await connection.join("t")
    connection.accept()
    await settle()
    client.reading.clear()  # the transport pushes back from now on
    for index in range(3):
        await hub.publish("t", Kind.TEXT, str(index))
    connection.send_text("own")
    assert client.frames() == []
    assert connection.queued == 3  # the first frame is inside the transport's send
    client.reading.set()
    await settle()
    assert client.frames() == ["0", "1", "2", "own"]


async def test_a_client_that_pushes_back_mid_fan_out_delays_only_itself():
    hub = Hub(MemoryEngine("memory://"))
    clients = await joined(hub, 5)
    # The hub's subscriber order is a set's: block whichever client it writes to third.
    order = list(hub._topics["t"].subscribers)
    slow = next(client for client, connection in clients if connection is order[2])
    slow.reading.clear()
    hub.engine.publish_blocking("t", Kind.TEXT, "a")  # fans out with no await
    hub.engine.publish_blocking("t", Kind.TEXT, "b")
    others = [client for client, _ in clients if client is not slow]
    # Everyone else has both at once, before any task has run.
    assert [client.frames() for client in others] == [["a", "b"]] * 4
    assert slow.frames() == []
    slow.reading.set()
    await settle()
    assert slow.frames() == ["a", "b"]
    hub.engine.publish_blocking("t", Kind.TEXT, "c")  # the slow client is caught up
    assert [client.frames()[-1] for client, _ in clients] == ["c"] * 5


async def test_a_client_finished_while_its_fan_out_write_waits_gets_nothing_more():
    hub = Hub(MemoryEngine("memory://"))
    (slow, stuck), (fine, _) = await joined(hub, 2)
    slow.reading.clear()
    hub.engine.publish_blocking("t", Kind.TEXT, "a")
    stuck.finish(1006)
    await settle()
    slow.reading.set()
    hub.engine.publish_blocking("t", Kind.TEXT, "b")
    await settle()
    assert slow.frames() == []
    assert fine.frames() == ["a", "b"]


async def test_a_replaced_deliver_sees_every_message_instead_of_the_client():
    # A consumer that handles topic messages itself (or a filter) replaces deliver():
    # the hub must then never write to the transport behind its back.
    hub = Hub(MemoryEngine("memory://"))
    client, connection = make(hub)
    seen: list[Message] = []
    connection.deliver = seen.append
    await connection.join("t")
    connection.accept()
    await settle()
    hub.engine.publish_blocking("t", Kind.TEXT, "a")
    await settle()
    assert [message.data for message in seen] == ["a"]
    assert client.frames() == []


async def test_a_waiting_send_is_closed_when_the_connection_finishes():
    client, connection = make()
    connection.accept()
    await settle()
    client.reading.clear()
    connection.send_text("stuck")
    await settle()
    connection.finish(1006)
    await settle()
    client.reading.set()
    await settle()
    assert client.frames() == []


async def test_a_failed_direct_write_stops_further_frames_but_not_the_others():
    hub = Hub(MemoryEngine("memory://"))
    healthy_client, healthy = make(hub)
    _, broken = make(hub)

    async def gone(event):
        if event["type"] == "websocket.send":
            raise OSError("client disconnected")

    broken._send = gone
    for connection in (broken, healthy):
        await connection.join("t")
        connection.accept()
    await settle()
    await hub.publish("t", Kind.TEXT, "a")
    await hub.publish("t", Kind.TEXT, "b")
    assert broken.state is State.CLOSING
    assert broken.queued == 0
    assert healthy_client.frames() == ["a", "b"]

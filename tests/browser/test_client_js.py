"""courant.js's own logic, run in the browser: the SSE parser, the backoff's bounds, and the
client's recovery bookkeeping against a scripted WebSocket (a stand-in for the server, so
that each frame, drop and close code comes exactly when the test says)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..live import Server
from .conftest import start_server

MODULE = "/static/courant/courant.js"


@pytest.fixture(scope="module")
def server(live_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(live_db, tmp_path_factory.mktemp("client-js")) as running:
        yield running


def run(page: Any, body: str) -> Any:
    """Run ``body`` (async JS with ``courant``, the module, in scope) and return its value."""
    return page.evaluate(f"async () => {{ const courant = await import({MODULE!r}); {body} }}")


def test_the_sse_parser_reads_events_as_eventsource_does(page):
    events = run(
        page,
        r"""return courant.parseEvents(
            "\uFEFF: a comment, then an open event\n" +
            "event: open\ndata: {\"connection\": \"c1\"}\n\n" +
            "data:no space\r\ndata:  two spaces keep one\r\n\r\n" +
            "id: 7\rdata\rretry: 10\runknown: x\r\r" +
            "event: close\n\n" +  // no data: no event
            "event: close\ndata: {\"code\": 1000}\n\n" +
            "data: cut off before its blank line"
        );""",
    )
    assert events == [
        {"type": "open", "data": '{"connection": "c1"}', "id": ""},
        {"type": "message", "data": "no space\n two spaces keep one", "id": ""},
        {"type": "message", "data": "", "id": "7"},
        {"type": "close", "data": '{"code": 1000}', "id": "7"},
    ]


def test_the_backoff_grows_exponentially_within_its_bounds(page):
    result = run(
        page,
        """const bounds = { min: 500, max: 20000 };
        const ceilings = [0, 1, 2, 3, 5, 6, 50, 5000].map(
            (attempt) => courant.backoffDelay(attempt, bounds, () => 1));
        const floors = [0, 3, 50].map((attempt) => courant.backoffDelay(attempt, bounds, () => 0));
        const samples = [];
        for (let attempt = 0; attempt < 12; attempt++) {
            for (let i = 0; i < 200; i++) {
                samples.push([attempt, courant.backoffDelay(attempt, bounds)]);
            }
        }
        return { ceilings, floors, samples };""",
    )
    assert result["ceilings"] == [500, 1000, 2000, 4000, 16000, 20000, 20000, 20000]
    assert result["floors"] == [0, 0, 0]
    for attempt, delay in result["samples"]:
        assert 0 <= delay <= min(20000, 500 * 2**attempt)
    # Full jitter: the delays spread over their range instead of bunching at the top.
    late = [delay for attempt, delay in result["samples"] if attempt >= 8]
    assert min(late) < 5000 < 15000 < max(late)


# A WebSocket stand-in that the test drives: frame() delivers a server frame, drop() ends
# the connection with a close code; what the client sends is in .sent.
FAKE_SOCKETS = """
const sockets = [];
class ScriptedSocket {
  constructor(url) {
    this.url = String(url);
    this.sent = [];
    sockets.push(this);
    setTimeout(() => {
      this.onopen();
      this.opened = true;
    }, 0);
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close() {}
  frame(frame) { this.onmessage({ data: JSON.stringify(frame) }); }
  drop(code) { this.onclose({ code, reason: "" }); }
}
window.WebSocket = ScriptedSocket;
const waitFor = async (check) => {
  for (let tries = 0; tries < 500; tries++) {
    const value = check();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${check}`);
};
const hello = async (index) => {
  const socket = await waitFor(() => sockets[index]);
  await waitFor(() => socket.opened);
  socket.frame({ type: "hello", version: 1, transport: "websocket" });
  return socket;
};
const op = (socket, name) => waitFor(() => socket.sent.find((frame) => frame.op === name));
"""


def test_reconnection_resubscribes_from_the_last_position_and_delivers_once(page):
    result = run(
        page,
        FAKE_SOCKETS
        + """
        const got = [], gaps = [], states = [];
        const client = courant.connect("/courant/", { backoff: { min: 1, max: 5 } });
        client.on("state", (state) => states.push(state));
        client.subscribe("t", {
          onMessage: (data, meta) => got.push(`${meta.epoch}:${meta.offset}:${data}`),
          onGap: (info) => gaps.push(`${info.reason}:${info.epoch}:${info.offset}`),
        });

        let socket = await hello(0);
        const first = await op(socket, "subscribe");
        socket.frame({ type: "subscribed", id: first.id, topic: "t", epoch: "e", offset: 0,
                       recovered: false });
        for (const offset of [1, 2, 2, 3]) {  // 2 twice: the client must show it once
          socket.frame({ type: "message", topic: "t", epoch: "e", offset, data: `m${offset}` });
        }
        socket.drop(1012);

        socket = await hello(1);
        const second = await op(socket, "subscribe");
        // The server replays from `since`; a message the client has must not show again.
        for (const offset of [3, 4, 5]) {
          socket.frame({ type: "message", topic: "t", epoch: "e", offset, data: `m${offset}` });
        }
        socket.frame({ type: "subscribed", id: second.id, topic: "t", epoch: "e", offset: 5,
                       recovered: true });
        socket.drop(1006);

        // Published while disconnected: it waits for the connection.
        const published = client.publish("t", "queued");
        socket = await hello(2);
        const third = await op(socket, "subscribe");
        const publish = await op(socket, "publish");
        socket.frame({ type: "subscribed", id: third.id, topic: "t", epoch: "f", offset: 9,
                       recovered: false });
        socket.frame({ type: "message", topic: "t", epoch: "f", offset: 10, data: "queued" });
        socket.frame({ type: "reply", id: publish.id, ok: true,
                       result: { epoch: "f", offset: 10 } });
        const position = await published;
        const order = socket.sent.map((frame) => frame.op);

        socket.drop(4002);  // unsupported protocol: the client gives up
        const urls = sockets.map((s) => s.url);
        return { got, gaps, states, since: [first.since ?? null, second.since, third.since],
                 publish, position, order, urls, state: client.state };
        """,
    )
    assert result["got"] == ["e:1:m1", "e:2:m2", "e:3:m3", "e:4:m4", "e:5:m5", "f:10:queued"]
    assert result["since"] == [None, {"epoch": "e", "offset": 3}, {"epoch": "e", "offset": 5}]
    assert result["gaps"] == ["unrecovered:f:9"]
    assert result["publish"]["data"] == "queued"
    assert result["position"] == {"epoch": "f", "offset": 10}
    assert result["order"] == ["subscribe", "publish"]  # resubscribed first
    assert result["states"] == [
        "open", "reconnecting", "open", "reconnecting", "open", "closed",
    ]  # fmt: skip
    assert result["state"] == "closed"
    for url in result["urls"]:
        assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/courant/\?protocol=1", url)


def test_calls_fail_plainly_and_an_unknown_version_ends_the_client(page):
    result = run(
        page,
        FAKE_SOCKETS
        + """
        const client = courant.connect("/courant/", { backoff: { min: 1, max: 5 },
                                                      timeout: 200 });
        let socket = await hello(0);
        const refused = client.call("rooms.delete", { name: "lobby" });
        const call = await op(socket, "call");
        socket.frame({ type: "reply", id: call.id, ok: false,
                       error: { code: "forbidden", message: "staff only" } });
        const error = await refused.catch((error) => [error.name, error.code, error.message]);
        const timedOut = await client.call("slow").catch((error) => error.code);
        const lost = client.call("lost");
        await op(socket, "call");
        socket.drop(1006);
        const disconnected = await lost.catch((error) => error.code);

        const other = courant.connect("/other/", { transports: ["websocket"] });
        const errors = [];
        other.on("error", (error) => errors.push(error.code));
        const newer = await waitFor(() => sockets.find((s) => s.url.includes("/other/")));
        await waitFor(() => newer.opened);
        newer.frame({ type: "hello", version: 2, transport: "websocket" });
        client.close();
        const afterClose = await client.call("x").catch((error) => error.code);
        return { error, timedOut, disconnected, errors, otherState: other.state,
                 state: client.state, afterClose };
        """,
    )
    assert result["error"] == ["CourantError", "forbidden", "staff only"]
    assert result["timedOut"] == "timeout"
    assert result["disconnected"] == "disconnected"
    assert result["errors"] == ["unsupported_protocol"]
    assert result["otherState"] == "closed"
    assert (result["state"], result["afterClose"]) == ("closed", "closed")


def test_presence_follows_the_frames_and_survives_a_reconnection(page):
    """The client's presence bookkeeping: the whole state, then diffs, told to the page as
    joins, leaves and updates; setPresence() sends the op, and the latest meta goes with
    the subscribe after a reconnection, whose whole state drops whoever left meanwhile."""
    result = run(
        page,
        FAKE_SOCKETS
        + """
        const told = [];
        const client = courant.connect("/courant/", { backoff: { min: 1, max: 5 } });
        const board = client.subscribe("board:1", {
          presence: { state: "reading" },
          onJoin: (key, metas) => told.push(`join ${key} ${JSON.stringify(metas)}`),
          onLeave: (key, metas) => told.push(`leave ${key} ${JSON.stringify(metas)}`),
          onUpdate: (key, metas) => told.push(`update ${key} ${JSON.stringify(metas)}`),
          onPresence: (members) => told.push(`members ${Object.keys(members).join(",")}`),
        });
        const subscribe = async (socket, members) => {
          const frame = await op(socket, "subscribe");
          socket.frame({ type: "subscribed", id: frame.id, topic: "board:1", epoch: "e",
                         offset: 0, recovered: false });
          socket.frame({ type: "presence", topic: "board:1", members });
          return frame;
        };
        const steps = {};

        let socket = await hello(0);
        const first = await subscribe(socket, { 1: [{ s: "r" }], 2: [{ s: "r" }] });
        steps.whole = [...told.splice(0)];
        socket.frame({ type: "presence_diff", topic: "board:1", joins: { 3: [{ s: "r" }] },
                       updates: { 1: [{ s: "r" }, { s: "e" }] }, leaves: { 2: [{ s: "r" }] } });
        socket.frame({ type: "presence_diff", topic: "other", joins: { 9: [{}] } });
        steps.diff = [...told.splice(0)];
        const before = board.presence;

        const set = board.setPresence({ state: "editing" });
        const presenceOp = await op(socket, "presence");
        socket.frame({ type: "reply", id: presenceOp.id, ok: true, result: null });
        const setResult = await set;
        socket.drop(1006);

        // Meanwhile 3 left and 4 came: the whole state after the reconnection says so.
        socket = await hello(1);
        const second = await subscribe(socket, { 1: [{ s: "r" }, { s: "e" }], 4: [{ s: "e" }] });
        steps.reconnected = [...told.splice(0)];

        const stop = board.setPresence(null);
        const stopOp = await op(socket, "presence");  // the first on this connection
        socket.frame({ type: "reply", id: stopOp.id, ok: true, result: null });
        await stop;
        socket.drop(1006);
        const third = await subscribe(await hello(2), {});
        steps.emptied = [...told.splice(0)];
        // Disconnected: the meta waits for the next subscribe.
        sockets[2].drop(1006);
        const offline = await board.setPresence({ state: "reading" });
        const fourth = await op(await hello(3), "subscribe");
        return { steps, before, after: board.presence, setResult, offline,
                 presenceOp, stopOp,
                 sent: [first, second, third, fourth].map((frame) => frame.presence ?? null) };
        """,
    )
    assert result["steps"] == {
        "whole": ['join 1 [{"s":"r"}]', 'join 2 [{"s":"r"}]', "members 1,2"],
        "diff": [
            'leave 2 [{"s":"r"}]',
            'join 3 [{"s":"r"}]',
            'update 1 [{"s":"r"},{"s":"e"}]',
            "members 1,3",
        ],
        "reconnected": ['leave 3 [{"s":"r"}]', 'join 4 [{"s":"e"}]', "members 1,4"],
        "emptied": ['leave 1 [{"s":"r"},{"s":"e"}]', 'leave 4 [{"s":"e"}]', "members "],
    }
    assert result["before"] == {"1": [{"s": "r"}, {"s": "e"}], "3": [{"s": "r"}]}
    assert result["after"] == {}
    assert result["presenceOp"]["meta"] == {"state": "editing"}
    assert result["stopOp"]["meta"] is None
    assert (result["setResult"], result["offline"]) == (None, None)
    assert result["sent"] == [
        {"state": "reading"},
        {"state": "editing"},
        None,
        {"state": "reading"},
    ]

// courant.js: the browser client of Courant's topics protocol (docs/protocol.md).
//
// One dependency-free ES module. It connects over WebSocket and falls back to Server-Sent
// Events, then long-polling (docs/transports.md); reconnects with exponential backoff and
// full jitter; resubscribes every topic from the last position it saw, so missed messages
// arrive once and in order, or tells the app plainly that it missed some; and keeps each
// topic's presence (docs/presence.md) up to date. See docs/client.md for the API.

/** The major version of the topics protocol this client speaks. */
export const VERSION = 1;

const DEFAULTS = {
  transports: ["websocket", "sse", "longpoll"],
  backoff: { min: 500, max: 20000 },
  connectTimeout: 10000, // ms for a transport to open before the next one is tried
  timeout: 10000, // ms for a call or publish to be answered, waiting in the queue included
  maxQueue: 100, // calls and publishes that may wait for a connection
  pollTimeout: 40000, // ms a long-poll may take (the server answers within 25 s)
  params: {}, // extra query parameters for every request
};
// A connection that stayed open this long was a success: the backoff starts over.
const STABLE_AFTER = 5000;
const UNSUPPORTED_PROTOCOL = 4002;
const ABNORMAL = 1006;

/** An error answered by the server (`code` from docs/protocol.md) or made by the client
 * (`timeout`, `disconnected`, `queue_full`, `closed`, `unsupported_protocol`). */
export class CourantError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = "CourantError";
    this.code = code;
  }
}

/** The delay before reconnection attempt number `attempt` (0 first): full jitter, a
 * random time between 0 and min(max, min × 2^attempt) milliseconds. */
export function backoffDelay(attempt, { min, max }, random = Math.random) {
  return random() * Math.min(max, min * 2 ** Math.min(attempt, 30));
}

/** Parse a text in the Server-Sent Events format into its events, as a browser's
 * EventSource does (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * `[{type, data, id}]`. An event not ended by a blank line is incomplete and dropped. */
export function parseEvents(text) {
  const events = [];
  let type = "";
  let data = null;
  let id = "";
  for (const line of text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/)) {
    if (line === "") {
      if (data !== null) events.push({ type: type || "message", data: data.join("\n"), id });
      type = "";
      data = null;
      continue;
    }
    if (line.startsWith(":")) continue; // a comment, such as a keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") type = value;
    else if (field === "data") (data ??= []).push(value);
    else if (field === "id" && !value.includes("\0")) id = value;
  }
  return events;
}

// -- transports --------------------------------------------------------------------------
//
// A transport is made with (url, handlers) and calls handlers.open() once it can carry
// frames, handlers.frame(text) for each frame from the server, and handlers.close(code,
// reason) once when it ends by itself. It has send(text) and close(); after close() it
// calls no handler.

function onceEnded(handlers) {
  let ended = false;
  const end = (code, reason) => {
    if (!ended) {
      ended = true;
      handlers.close(code, reason);
    }
  };
  return { end, stop: () => (ended = true), get ended() { return ended; } };
}

function websocketTransport(url, handlers) {
  const wsUrl = new URL(url);
  wsUrl.protocol = wsUrl.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(wsUrl);
  const life = onceEnded(handlers);
  socket.onopen = () => handlers.open();
  socket.onmessage = (event) => {
    if (typeof event.data === "string") handlers.frame(event.data);
  };
  socket.onclose = (event) => life.end(event.code, event.reason); // follows any error
  return {
    send: (text) => socket.send(text),
    close() {
      life.stop();
      socket.close(1000);
    },
  };
}

// Both HTTP transports send frames with one POST each, one at a time so that the server
// receives them in order, with the connection's secret from the `open` event.
function poster(url, life) {
  let chain = Promise.resolve();
  return {
    url: null, // where to POST, once the `open` event named the connection
    headers: {},
    open({ connection, secret }) {
      this.url = new URL(url);
      this.url.searchParams.set("connection", connection);
      this.headers = { "X-Courant-Secret": secret };
    },
    send(text) {
      const { url: target, headers } = this;
      chain = chain.then(async () => {
        if (life.ended) return;
        try {
          const response = await fetch(target, {
            method: "POST",
            headers: { ...headers, "Content-Type": "text/plain;charset=UTF-8" },
            body: text,
            credentials: "same-origin",
          });
          if (!response.ok) life.end(ABNORMAL, `POST answered ${response.status}`);
        } catch (error) {
          life.end(ABNORMAL, String(error));
        }
      });
    },
  };
}

function sseTransport(url, handlers) {
  const life = onceEnded(handlers);
  const post = poster(url, life);
  const source = new EventSource(url);
  const end = (code, reason) => {
    source.close(); // EventSource would reconnect by itself: the client does that instead
    life.end(code, reason);
  };
  source.addEventListener("open", (event) => {
    // EventSource also fires a plain "open" Event of its own, without data: skip it.
    if (event.data === undefined) return;
    post.open(JSON.parse(event.data));
    handlers.open();
  });
  source.onmessage = (event) => handlers.frame(event.data);
  source.addEventListener("close", (event) => {
    const { code, reason } = JSON.parse(event.data);
    end(code, reason);
  });
  source.onerror = () => end(ABNORMAL, "the event stream failed");
  return {
    send: (text) => post.send(text),
    close() {
      life.stop();
      source.close();
    },
  };
}

function longpollTransport(url, handlers, { pollTimeout }) {
  const life = onceEnded(handlers);
  const post = poster(url, life);
  let aborter = null;

  function handle(event) {
    if (event.type === "open") {
      post.open(JSON.parse(event.data));
      handlers.open();
    } else if (event.type === "message") {
      handlers.frame(event.data);
    } else if (event.type === "close") {
      const { code, reason } = JSON.parse(event.data);
      life.end(code, reason);
    }
  }

  async function poll() {
    let pollUrl = url;
    while (!life.ended) {
      aborter = new AbortController();
      const timer = setTimeout(() => aborter.abort(), pollTimeout);
      let body;
      try {
        const response = await fetch(pollUrl, {
          headers: post.headers,
          credentials: "same-origin",
          cache: "no-store",
          signal: aborter.signal,
        });
        if (!response.ok) throw new Error(`GET answered ${response.status}`);
        body = await response.text();
      } catch (error) {
        life.end(ABNORMAL, String(error));
        return;
      } finally {
        clearTimeout(timer);
      }
      for (const event of parseEvents(body)) {
        if (life.ended) return;
        handle(event);
      }
      if (!post.url) {
        life.end(ABNORMAL, "the long-poll connection did not open");
        return;
      }
      pollUrl = post.url;
    }
  }

  poll();
  return {
    send: (text) => post.send(text),
    close() {
      life.stop();
      aborter?.abort();
    },
  };
}

const TRANSPORTS = { websocket: websocketTransport, sse: sseTransport, longpoll: longpollTransport };

// -- subscriptions ---------------------------------------------------------------------

/** One topic the client follows; made by `client.subscribe()`. */
export class Subscription {
  constructor(client, topic, handlers) {
    this.client = client;
    this.topic = topic;
    this.handlers = handlers;
    /** The position (`{epoch, offset}`) of the last message received, or null. */
    this.position = handlers.since ?? null;
    /** Whether the server has confirmed this subscription on the current connection. */
    this.subscribed = false;
    this.subscribing = false;
    this.retries = 0;
    /** Who is on the topic (one with presence): `{key: [meta, ...]}`. A new object at each
     * change; empty until the server sends it. */
    this.presence = {};
    // The meta this page shows itself with, or null: every subscribe sends it.
    this._meta = handlers.presence ?? null;
  }

  /** Publish `data` to this topic: resolves with its `{epoch, offset}`. */
  publish(data, options) {
    return this.client.publish(this.topic, data, options);
  }

  /** Stop receiving this topic's messages. */
  unsubscribe() {
    this.client._forget(this, true);
  }

  /** Show this page in the topic's presence with `meta` (again to change it), or stop
   * showing it with null. Resolves once the server has it; the meta is kept, so that a
   * reconnection shows the page with it again. */
  setPresence(meta, options) {
    this._meta = meta ?? null;
    if (this.client._subscriptions.get(this.topic) !== this) {
      return Promise.reject(new CourantError("not_subscribed", "this subscription has ended"));
    }
    // Not subscribed on this connection (yet): the next subscribe carries the meta. The
    // server handles a connection's ops in order, so one sent after a subscribe that is
    // still being answered comes after it.
    if (!this.subscribed && !this.subscribing) return Promise.resolve(null);
    return this.client._request({ op: "presence", topic: this.topic, meta: this._meta }, options);
  }

  _emit(name, ...args) {
    const handler = this.handlers[name];
    if (handler) guarded(() => handler.call(this, ...args));
  }

  _message(frame) {
    const { epoch, offset } = frame;
    const last = this.position;
    // A guard: what the client already has is never delivered twice.
    if (last && last.epoch === epoch && offset <= last.offset) return;
    this.position = { epoch, offset };
    const data = frame.binary ? decodeBase64(frame.data) : frame.data;
    this._emit("onMessage", data, { topic: this.topic, epoch, offset });
  }

  // The answer to a subscribe sent with `since` (the position then, or null).
  _answer(frame, since) {
    this.subscribing = false;
    if (this.client._subscriptions.get(this.topic) !== this) return; // unsubscribed since
    if (frame.type === "subscribed") {
      const { epoch, offset, recovered } = frame;
      const now = this.position;
      // Messages may arrive before `subscribed`: keep the furthest position of the two.
      if (now === since || now.epoch !== epoch || now.offset < offset) {
        this.position = { epoch, offset };
      }
      this.subscribed = true;
      this.retries = 0;
      if (since && !recovered) {
        this._emit("onGap", { topic: this.topic, epoch, offset, reason: "unrecovered" });
      }
      this._emit("onSubscribed", { topic: this.topic, epoch, offset, recovered });
      return;
    }
    const error = new CourantError(frame.error?.code ?? "internal", frame.error?.message);
    if (error.code === "unavailable") {
      // The server's engine failed for now: try again a little later.
      const delay = backoffDelay(this.retries++, this.client.options.backoff);
      setTimeout(() => this.client._resubscribe(this), delay);
    } else {
      this.client._forget(this, false);
    }
    this._emit("onError", error);
  }

  _gap(frame) {
    const { epoch, offset } = frame;
    this.position = { epoch, offset };
    this._emit("onGap", { topic: this.topic, epoch, offset, reason: "gap" });
  }

  // The whole presence, sent after every subscribe: what changed since the presence the
  // page had (before a reconnection, say) is told as joins, leaves and updates, so that
  // nobody who left meanwhile stays on the page.
  _presence({ members = {} }) {
    const before = this.presence;
    const changes = { leaves: {}, joins: {}, updates: {} };
    for (const key of Object.keys(before)) {
      if (!Object.hasOwn(members, key)) changes.leaves[key] = before[key];
    }
    for (const [key, metas] of Object.entries(members)) {
      if (!Object.hasOwn(before, key)) changes.joins[key] = metas;
      else if (JSON.stringify(metas) !== JSON.stringify(before[key])) changes.updates[key] = metas;
    }
    this._presenceDiff(changes);
  }

  // A change: members who came, left, or changed their metas (each mapped to its metas).
  _presenceDiff({ leaves = {}, joins = {}, updates = {} }) {
    const members = (this.presence = { ...this.presence });
    for (const [key, metas] of Object.entries(leaves)) {
      delete members[key];
      this._emit("onLeave", key, metas);
    }
    for (const [name, changed] of [["onJoin", joins], ["onUpdate", updates]]) {
      for (const [key, metas] of Object.entries(changed)) {
        members[key] = metas;
        this._emit(name, key, metas);
      }
    }
    this._emit("onPresence", members);
  }
}

// -- data binding ------------------------------------------------------------------------

const ACTIONS = new Set(["create", "update", "delete"]);

/** A collection kept in sync with the messages of a model binding (docs/binding.md):
 * `{action, pk, data}`, applied to `items` as they come. Made by `client.sync()`. */
export class Sync {
  constructor(client, topic, options = {}) {
    this.client = client;
    this.topic = topic;
    this.options = options;
    /** The rows, `{pk, ...data}` by pk, in order (the initial order, then creates last;
     * or as `options.order` sorts them). The same Map throughout, changed in place. */
    this.items = new Map();
    this._buffer = null; // while a load runs: the messages that arrived meanwhile
    this._loading = null; // the promise of the load that runs
    this._again = false; // a gap came while loading: load once more
    this._subscribedOnce = false;
    let ready;
    /** Resolves once the first state is in: at once with `initial` (or neither `initial`
     * nor `load`), else after the first load. Never rejects: errors go to onError. */
    this.ready = new Promise((resolve) => (ready = resolve));
    this._ready = ready;
    if (options.initial) {
      this._fill(options.initial);
      this._emit({ action: "load", reason: "initial" });
    }
    if (options.initial || !options.load) this._ready();
    this.subscription = client.subscribe(topic, {
      since: options.since,
      onMessage: (data) => this._message(data),
      onSubscribed: () => {
        // After the subscription, so that no change falls between the state and the
        // stream: what arrives while it loads is applied on top of it.
        if (!this._subscribedOnce && options.load) this.reload("initial");
        this._subscribedOnce = true;
      },
      onGap: (info) => {
        if (options.load) this.reload("gap");
        if (options.onGap) guarded(() => options.onGap(info));
      },
      onError: (error) => this._error(error),
      onUnsubscribed: (reason) => {
        if (options.onUnsubscribed) guarded(() => options.onUnsubscribed(reason));
      },
    });
  }

  /** Load the whole state again with `options.load`; messages that arrive meanwhile are
   * applied on top of it. Resolves once done (at once without `load`). */
  reload(reason = "reload") {
    const load = this.options.load;
    if (!load) return Promise.resolve();
    if (this._loading) {
      if (reason === "gap") this._again = true; // what is buffered may miss messages
      return this._loading;
    }
    this._buffer = [];
    this._loading = (async () => {
      let rows;
      try {
        rows = await load();
        if (!Array.isArray(rows)) throw new TypeError("sync(): load() must resolve with an array of rows");
      } catch (error) {
        this._error(error);
        rows = null;
      }
      const buffer = this._buffer;
      this._buffer = null;
      this._loading = null;
      if (rows) {
        this.items.clear();
        for (const row of rows) this._set(row);
        for (const message of buffer) this._apply(message, false);
        this._sort();
        this._emit({ action: "load", reason });
        this._ready();
      } else {
        // The load failed: the page keeps what it had, and the changes that came.
        for (const message of buffer) this._apply(message, true);
      }
      if (this._again) {
        this._again = false;
        await this.reload("gap");
      }
    })();
    return this._loading;
  }

  /** Stop following the topic; `items` stays as it is. */
  unsubscribe() {
    this.subscription.unsubscribe();
  }

  _fill(rows) {
    for (const row of rows) this._set(row);
    this._sort();
  }

  _set(row) {
    if (row && typeof row === "object" && "pk" in row) this.items.set(row.pk, row);
  }

  _message(message) {
    // Only a binding's messages: anything else published on the topic is not a change.
    if (!message || typeof message !== "object" || !ACTIONS.has(message.action)) return;
    if (!("pk" in message)) return;
    if (this._buffer) this._buffer.push(message);
    else this._apply(message, true);
  }

  _apply({ action, pk, data }, tell) {
    const previous = this.items.get(pk);
    let event;
    if (action === "delete") {
      if (previous === undefined) return; // never had it (it was not for this page)
      this.items.delete(pk);
      event = { action, pk, row: undefined, previous };
    } else {
      // An update of a row not held yet adds it: it may have just become visible.
      const row = { ...data, pk };
      this.items.set(pk, row);
      event = { action: previous === undefined ? "create" : "update", pk, row, previous };
    }
    if (tell) {
      this._sort();
      this._emit(event);
    }
  }

  _sort() {
    const order = this.options.order;
    if (!order) return;
    const rows = [...this.items.values()].sort(order);
    this.items.clear();
    for (const row of rows) this.items.set(row.pk, row);
  }

  _emit(event) {
    const onChange = this.options.onChange;
    if (onChange) guarded(() => onChange(this.items, event));
  }

  _error(error) {
    const onError = this.options.onError;
    if (onError) guarded(() => onError(error));
  }
}

// -- the client --------------------------------------------------------------------------

/** A connection to a Courant topics endpoint, kept up by itself; made by `connect()`. */
export class Client {
  constructor(url = "/courant/", options = {}) {
    this.options = {
      ...DEFAULTS,
      ...options,
      backoff: { ...DEFAULTS.backoff, ...options.backoff },
    };
    this.url = new URL(url, globalThis.location?.href);
    this.url.searchParams.set("protocol", String(VERSION));
    for (const [name, value] of Object.entries(this.options.params)) {
      this.url.searchParams.set(name, value);
    }
    /** "connecting" | "open" | "reconnecting" | "closed" */
    this.state = "connecting";
    /** The transport in use or last used ("websocket" | "sse" | "longpoll"), or null. */
    this.transport = null;
    this._listeners = { state: new Set(), error: new Set() };
    this._subscriptions = new Map(); // topic -> Subscription
    this._pending = new Map(); // op id -> {answer(frame), fail(error)}
    this._queue = []; // ops waiting for the connection, in order
    this._nextId = 1;
    this._attempt = 0;
    this._current = null; // the transport object in use, or being tried
    this._retryTimer = null;
    this._openedAt = 0;
    this._online = () => {
      if (this._retryTimer !== null) {
        clearTimeout(this._retryTimer);
        this._retryTimer = null;
        this._connect();
      }
    };
    globalThis.addEventListener?.("online", this._online);
    this._connect();
  }

  /** Listen to "state" (fn(state, previous)) or "error" (fn(error)) events. Returns a
   * function that removes the listener. */
  on(event, listener) {
    this._listeners[event].add(listener);
    return () => this.off(event, listener);
  }

  off(event, listener) {
    this._listeners[event].delete(listener);
  }

  /** Follow `topic`. `handlers`: onMessage(data, meta), onSubscribed(info), onGap(info),
   * onError(error), onUnsubscribed(reason), `since` ({epoch, offset}) to start from; and
   * for presence, `presence` (the meta to show this page with), onPresence(members),
   * onJoin(key, metas), onLeave(key, metas), onUpdate(key, metas). */
  subscribe(topic, handlers = {}) {
    if (this.state === "closed") throw new CourantError("closed", "the client is closed");
    if (this._subscriptions.has(topic)) throw new Error(`already subscribed to ${topic}`);
    const subscription = new Subscription(this, topic, handlers);
    this._subscriptions.set(topic, subscription);
    if (this.state === "open") this._resubscribe(subscription);
    return subscription;
  }

  /** Keep a collection in sync with a model binding's messages on `topic`: `options`
   * has `initial` (rows `{pk, ...}` the page has), `load` (a function that resolves with
   * such rows, for the first state and after a gap), `order(a, b)`, `since`, and the
   * handlers onChange(items, event), onGap(info), onError(error), onUnsubscribed(reason).
   * Returns a `Sync`; see docs/binding.md. */
  sync(topic, options = {}) {
    return new Sync(this, topic, options);
  }

  /** Publish `data` (any JSON value) to `topic`: resolves with its `{epoch, offset}`. */
  publish(topic, data, options) {
    return this._request({ op: "publish", topic, data }, options);
  }

  /** Call the server's RPC method `method`: resolves with its result. */
  call(method, params = null, options) {
    return this._request({ op: "call", method, params }, options);
  }

  /** Close the connection for good: pending calls and publishes reject with "closed". */
  close() {
    if (this.state === "closed") return;
    this._stop(new CourantError("closed", "the client was closed"));
  }

  // -- connecting ------------------------------------------------------------------------

  _order() {
    const chosen = this.options.transports.filter((name) => name in TRANSPORTS);
    const remembered = storage("get", this._storageKey());
    return chosen.includes(remembered)
      ? [remembered, ...chosen.filter((name) => name !== remembered)]
      : chosen;
  }

  _storageKey() {
    return `courant.transport ${this.url.pathname}`;
  }

  _connect() {
    this._retryTimer = null;
    const order = this._order();
    const attempt = (index) => {
      if (this.state === "closed") return;
      if (index >= order.length) {
        this._retry(); // none of them opened
        return;
      }
      const name = order[index];
      const url = new URL(this.url);
      if (name !== "websocket") url.searchParams.set("transport", name);
      let opened = false;
      let transport = null;
      const timer = setTimeout(() => {
        transport.close();
        attempt(index + 1);
      }, this.options.connectTimeout);
      const handlers = {
        open: () => {
          opened = true;
          clearTimeout(timer);
          this.transport = name;
          this._openedAt = Date.now();
        },
        frame: (text) => {
          if (this._current === transport) this._frame(text);
        },
        close: (code, reason) => {
          clearTimeout(timer);
          if (this._current !== transport) return;
          this._current = null;
          if (opened) this._dropped(code, reason);
          else attempt(index + 1);
        },
      };
      try {
        transport = TRANSPORTS[name](url, handlers, this.options);
      } catch {
        clearTimeout(timer); // this browser cannot even start it (no EventSource, a bad URL)
        attempt(index + 1);
        return;
      }
      this._current = transport;
    };
    attempt(0);
  }

  _retry() {
    this._setState("reconnecting");
    const delay = backoffDelay(this._attempt++, this.options.backoff);
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }

  _dropped(code, reason) {
    for (const entry of this._pending.values()) {
      entry.fail(new CourantError("disconnected", "the connection was lost before an answer"));
    }
    this._pending.clear();
    for (const subscription of this._subscriptions.values()) {
      subscription.subscribed = subscription.subscribing = false;
    }
    if (code === UNSUPPORTED_PROTOCOL) {
      this._fail("unsupported_protocol", reason || "the server does not speak protocol 1");
      return;
    }
    if (Date.now() - this._openedAt >= STABLE_AFTER) this._attempt = 0;
    this._retry();
  }

  _fail(code, message) {
    const error = new CourantError(code, message);
    this._stop(error);
    for (const listener of [...this._listeners.error]) guarded(() => listener(error));
  }

  _stop(error) {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    globalThis.removeEventListener?.("online", this._online);
    const transport = this._current;
    this._current = null;
    transport?.close();
    for (const entry of [...this._pending.values(), ...this._queue]) entry.fail(error);
    this._pending.clear();
    this._queue = [];
    this._setState("closed");
  }

  _setState(state) {
    const previous = this.state;
    if (state === previous) return;
    this.state = state;
    for (const listener of [...this._listeners.state]) guarded(() => listener(state, previous));
  }

  // -- frames ----------------------------------------------------------------------------

  _frame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return; // not a frame of this protocol
    }
    const subscription = this._subscriptions.get(frame.topic);
    switch (frame.type) {
      case "hello":
        this._hello(frame);
        break;
      case "message":
        subscription?._message(frame);
        break;
      case "subscribed":
      case "reply": {
        const entry = this._pending.get(frame.id);
        this._pending.delete(frame.id);
        entry?.answer(frame);
        break;
      }
      case "gap":
        subscription?._gap(frame);
        break;
      case "presence":
        subscription?._presence(frame);
        break;
      case "presence_diff":
        subscription?._presenceDiff(frame);
        break;
      case "unsubscribed":
        if (subscription) {
          this._forget(subscription, false);
          subscription._emit("onUnsubscribed", frame.reason);
        }
        break;
    }
  }

  _hello(frame) {
    if (frame.version !== VERSION) {
      this._fail("unsupported_protocol", `the server speaks protocol ${frame.version}`);
      return;
    }
    storage("set", this._storageKey(), this.transport);
    this._setState("open");
    for (const subscription of this._subscriptions.values()) this._resubscribe(subscription);
    const queue = this._queue;
    this._queue = [];
    for (const entry of queue) this._send(entry);
  }

  // -- ops -------------------------------------------------------------------------------

  _send(entry) {
    const id = this._nextId++;
    this._pending.set(id, entry);
    this._current.send(JSON.stringify({ ...entry.frame, id }));
  }

  _resubscribe(subscription) {
    const current = this._subscriptions.get(subscription.topic) === subscription;
    if (this.state !== "open" || !current || subscription.subscribing || subscription.subscribed) {
      return;
    }
    const since = subscription.position;
    const frame = { op: "subscribe", topic: subscription.topic };
    if (since) frame.since = since;
    if (subscription._meta) frame.presence = subscription._meta;
    subscription.subscribing = true;
    this._send({ frame, answer: (reply) => subscription._answer(reply, since), fail() {} });
  }

  _forget(subscription, tellServer) {
    if (this._subscriptions.get(subscription.topic) !== subscription) return;
    this._subscriptions.delete(subscription.topic);
    subscription.subscribed = false;
    if (tellServer && this.state === "open") {
      this._send({ frame: { op: "unsubscribe", topic: subscription.topic }, answer() {}, fail() {} });
    }
  }

  _request(frame, { timeout = this.options.timeout } = {}) {
    return new Promise((resolve, reject) => {
      if (this.state === "closed") {
        reject(new CourantError("closed", "the client is closed"));
        return;
      }
      const entry = {
        frame,
        answer(reply) {
          clearTimeout(timer);
          if (reply.ok) resolve(reply.result);
          else reject(new CourantError(reply.error?.code ?? "internal", reply.error?.message));
        },
        fail(error) {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this._queue = this._queue.filter((queued) => queued !== entry);
        for (const [id, pending] of this._pending) {
          if (pending === entry) this._pending.delete(id);
        }
        reject(new CourantError("timeout", `no answer within ${timeout} ms`));
      }, timeout);
      if (this.state === "open") {
        this._send(entry);
      } else if (this._queue.length < this.options.maxQueue) {
        this._queue.push(entry);
      } else {
        entry.fail(new CourantError("queue_full", "too many ops wait for the connection"));
      }
    });
  }
}

/** Connect to the topics endpoint at `url`: returns a Client at once, which connects (and
 * reconnects) in the background. */
export function connect(url = "/courant/", options = {}) {
  return new Client(url, options);
}

// -- helpers -----------------------------------------------------------------------------

// An app's handler that throws must not break the client: report it, as an uncaught error.
function guarded(call) {
  try {
    call();
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

function decodeBase64(text) {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}

// sessionStorage may be missing or refuse (private modes, sandboxed frames): then the
// client simply does not remember the transport.
function storage(action, key, value) {
  try {
    return action === "get"
      ? globalThis.sessionStorage?.getItem(key)
      : globalThis.sessionStorage?.setItem(key, value);
  } catch {
    return null;
  }
}

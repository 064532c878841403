// Type declarations of courant.js, the browser client of Courant's topics protocol.
// See docs/client.md.

/** The major version of the topics protocol this client speaks. */
export declare const VERSION: 1;

export type TransportName = "websocket" | "sse" | "longpoll";
export type ClientState = "connecting" | "open" | "reconnecting" | "closed";

/** Where a client is in a topic: the epoch (one life of its history) and the offset of
 * the last message received. */
export interface Position {
  epoch: string;
  offset: number;
}

export interface BackoffOptions {
  /** The first reconnection delay's upper bound, in ms (default 500). */
  min: number;
  /** The largest reconnection delay, in ms (default 20000). */
  max: number;
}

export interface ClientOptions {
  /** The transports to try, in order (default ["websocket", "sse", "longpoll"]). */
  transports?: TransportName[];
  /** Exponential backoff with full jitter between reconnection attempts. */
  backoff?: Partial<BackoffOptions>;
  /** Ms for a transport to open before the next one is tried (default 10000). */
  connectTimeout?: number;
  /** Ms for a call or publish to be answered, time in the queue included (default 10000). */
  timeout?: number;
  /** How many calls and publishes may wait for a connection (default 100). */
  maxQueue?: number;
  /** Ms a long-poll request may take before it counts as failed (default 40000). */
  pollTimeout?: number;
  /** Extra query parameters sent with every request. */
  params?: Record<string, string>;
}

export interface RequestOptions {
  /** Overrides the client's `timeout` for this op. */
  timeout?: number;
}

/** Error codes of docs/protocol.md, the client's own, or any code a server method chose. */
export type ErrorCode =
  | "invalid_json"
  | "invalid_frame"
  | "unknown_op"
  | "invalid_field"
  | "too_big"
  | "invalid_topic"
  | "unknown_topic"
  | "forbidden"
  | "too_many_subscriptions"
  | "rejected"
  | "unknown_method"
  | "not_subscribed"
  | "no_presence"
  | "presence_full"
  | "unavailable"
  | "internal"
  | "timeout"
  | "disconnected"
  | "queue_full"
  | "closed"
  | "unsupported_protocol"
  | (string & {});

export declare class CourantError extends Error {
  constructor(code: ErrorCode, message?: string);
  readonly name: "CourantError";
  readonly code: ErrorCode;
}

export interface MessageMeta {
  topic: string;
  epoch: string;
  offset: number;
}

export interface SubscribedInfo extends MessageMeta {
  /** True when every message missed since the last position was delivered. */
  recovered: boolean;
}

export interface GapInfo extends MessageMeta {
  /** "unrecovered": the server could not replay what was missed while disconnected;
   * "gap": the server lost messages of this topic. Messages that follow come after
   * `epoch`/`offset`: reload what you show from this topic. */
  reason: "unrecovered" | "gap";
}

/** A presence meta: a small JSON object, one per tracked connection. */
export type PresenceMeta = Record<string, unknown>;

/** Who is on a topic: each member's key (a user's id, or `anonymous:...`) mapped to one
 * meta per connection it has there (as the topic class's `clean_presence` made it). */
export type Members<M = PresenceMeta> = Record<string, M[]>;

export interface SubscriptionHandlers<T = unknown, M = PresenceMeta> {
  /** A message of the topic: `data` is what was published (a Uint8Array for bytes). */
  onMessage?(this: Subscription<T, M>, data: T, meta: MessageMeta): void;
  /** The server confirmed the subscription (again after each reconnection). */
  onSubscribed?(this: Subscription<T, M>, info: SubscribedInfo): void;
  /** Messages were missed and cannot be delivered. */
  onGap?(this: Subscription<T, M>, info: GapInfo): void;
  /** The subscription was refused (for example `forbidden`); it has ended, except on
   * `unavailable`, when it is tried again. */
  onError?(this: Subscription<T, M>, error: CourantError): void;
  /** The server ended the subscription (reason `"forbidden"`: the permission was revoked). */
  onUnsubscribed?(this: Subscription<T, M>, reason: string): void;
  /** Start from this position: the messages after it are delivered first. */
  since?: Position;
  /** Show this page in the topic's presence with this meta (leave it out to watch the
   * presence without being counted). */
  presence?: object | null;
  /** The presence changed (the whole of it, first, then after each change). */
  onPresence?(this: Subscription<T, M>, members: Members<M>): void;
  /** A member came (also for each member of the first presence received). */
  onJoin?(this: Subscription<T, M>, key: string, metas: M[]): void;
  /** A member left: `metas` are those it had. */
  onLeave?(this: Subscription<T, M>, key: string, metas: M[]): void;
  /** A member's metas changed (another tab, a new state): `metas` are its metas now. */
  onUpdate?(this: Subscription<T, M>, key: string, metas: M[]): void;
}

export declare class Subscription<T = unknown, M = PresenceMeta> {
  readonly client: Client;
  readonly topic: string;
  /** The position of the last message received, or null. */
  readonly position: Position | null;
  /** Whether the server has confirmed this subscription on the current connection. */
  readonly subscribed: boolean;
  /** Publish to this topic: resolves with the message's position. */
  publish(data: unknown, options?: RequestOptions): Promise<Position>;
  /** Who is on the topic now (a topic with presence); a new object at each change. */
  readonly presence: Members<M>;
  /** Stop receiving this topic's messages. */
  unsubscribe(): void;
  /** Show this page in the topic's presence with `meta`, or stop with null; resolves once
   * the server has it. The meta is kept for the subscribes after a reconnection. */
  setPresence(meta: object | null, options?: RequestOptions): Promise<null>;
}

/** A model instance's primary key, as the binding sent it. */
export type Pk = string | number;

/** One row of a synced collection: the binding's `data` with the instance's `pk`. */
export type Row<T = Record<string, unknown>> = T & { pk: Pk };

/** A message a model binding publishes (docs/binding.md). */
export interface BindingMessage<T = Record<string, unknown>> {
  action: "create" | "update" | "delete";
  pk: Pk;
  data: T;
}

/** What changed in a synced collection: a row came, changed or went (`action` says what
 * happened to `items`: an update of a row not held yet is a "create"), or the whole state
 * was loaded. */
export type SyncEvent<T = Record<string, unknown>> =
  | { action: "create"; pk: Pk; row: Row<T>; previous: undefined }
  | { action: "update"; pk: Pk; row: Row<T>; previous: Row<T> }
  | { action: "delete"; pk: Pk; row: undefined; previous: Row<T> }
  | { action: "load"; reason: "initial" | "gap" | "reload" };

export interface SyncOptions<T = Record<string, unknown>> {
  /** The rows the page has already (rendered into it by the server). */
  initial?: Row<T>[];
  /** Resolves with the whole state (an RPC: `() => client.call("todos.list")`). Called
   * once the subscription is confirmed (with `initial` too: it catches up with what
   * changed since the page was made), after a gap, and by `reload()`. */
  load?: () => Promise<Row<T>[]>;
  /** Keep `items` sorted with this comparison (default: the initial order, then creates
   * last). */
  order?: (a: Row<T>, b: Row<T>) => number;
  /** Start the subscription from this position (rendered into the page with `initial`). */
  since?: Position;
  /** After each change: `items` (the same Map, changed) and what happened. */
  onChange?(items: Map<Pk, Row<T>>, event: SyncEvent<T>): void;
  /** Messages were missed (`load`, if given, is called by itself). */
  onGap?(info: GapInfo): void;
  /** The subscription was refused, or `load` failed. */
  onError?(error: unknown): void;
  /** The server ended the subscription (reason `"forbidden"`). */
  onUnsubscribed?(reason: string): void;
}

/** A collection kept in sync with a model binding's messages; made by `client.sync()`. */
export declare class Sync<T = Record<string, unknown>> {
  readonly client: Client;
  readonly topic: string;
  readonly options: SyncOptions<T>;
  /** The rows by pk, in order; one Map, changed in place. */
  readonly items: Map<Pk, Row<T>>;
  /** The topic's subscription. */
  readonly subscription: Subscription<BindingMessage<T>>;
  /** Resolves once the first state is in (never rejects: errors go to `onError`). */
  readonly ready: Promise<void>;
  /** Load the whole state again with `load`; resolves once applied. */
  reload(): Promise<void>;
  /** Stop following the topic; `items` stays as it is. */
  unsubscribe(): void;
}

export interface ClientEvents {
  state: (state: ClientState, previous: ClientState) => void;
  /** The client gave up for good (an unknown protocol version): state is "closed". */
  error: (error: CourantError) => void;
}

export declare class Client {
  constructor(url?: string, options?: ClientOptions);
  /** The endpoint's URL, with the query parameters every request carries. */
  readonly url: URL;
  readonly options: Required<Omit<ClientOptions, "backoff">> & { backoff: BackoffOptions };
  readonly state: ClientState;
  /** The transport in use, or last used; null before the first one opened. */
  readonly transport: TransportName | null;
  on<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): () => void;
  off<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): void;
  /** Follow `topic`; throws if this client already follows it. */
  subscribe<T = unknown, M = PresenceMeta>(
    topic: string,
    handlers?: SubscriptionHandlers<T, M>,
  ): Subscription<T, M>;
  /** Keep a collection in sync with a model binding's messages on `topic`. */
  sync<T = Record<string, unknown>>(topic: string, options?: SyncOptions<T>): Sync<T>;
  /** Publish `data` (any JSON value) to `topic`: resolves with the message's position. */
  publish(topic: string, data: unknown, options?: RequestOptions): Promise<Position>;
  /** Call the server's RPC method: resolves with its result, rejects with a CourantError. */
  call<R = unknown>(method: string, params?: unknown, options?: RequestOptions): Promise<R>;
  /** Close for good: calls and publishes still waiting reject with code "closed". */
  close(): void;
}

/** Returns a Client at once; it connects, and reconnects, in the background. */
export declare function connect(url?: string, options?: ClientOptions): Client;

/** The reconnection delay for attempt `attempt` (0 first): a random time between 0 and
 * min(max, min × 2^attempt) ms. */
export declare function backoffDelay(
  attempt: number,
  backoff: BackoffOptions,
  random?: () => number,
): number;

export interface ServerSentEvent {
  type: string;
  data: string;
  id: string;
}

/** Parse Server-Sent Events text (a long-poll answer) into its complete events. */
export declare function parseEvents(text: string): ServerSentEvent[];

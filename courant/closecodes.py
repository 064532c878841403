"""Every close code Courant uses, in one place.

Codes below 4000 are the standard ones from RFC 6455 section 7.4.1; Courant uses them
with their standard meaning. Codes 4000-4099 are Courant's own. ``docs/close-codes.md``
is the user-facing table and must list the same codes (a test compares them).

A connection refused *before* the handshake completes (foreign Origin, unknown path,
``connect()`` that did not accept) gets no close code: the server answers the HTTP
upgrade request with ``403 Forbidden``, and browsers report close code 1006.
"""

from enum import IntEnum


class CloseCode(IntEnum):
    """Close codes sent by Courant's connection driver."""

    #: The consumer, or the client, ended the conversation normally.
    NORMAL = 1000
    #: The server process is shutting down; reconnect to another one.
    GOING_AWAY = 1001
    #: A binary frame reached a consumer that only takes text (``JsonConsumer``).
    UNSUPPORTED_DATA = 1003
    #: A text frame that a ``JsonConsumer`` could not decode as JSON.
    INVALID_PAYLOAD = 1007
    #: An incoming message was larger than ``MAX_MESSAGE_SIZE``.
    MESSAGE_TOO_BIG = 1009
    #: The consumer raised an exception; the traceback is in the server log.
    INTERNAL_ERROR = 1011
    #: The server is restarting (sent by uvicorn on shutdown).
    SERVICE_RESTART = 1012
    #: The client did not read fast enough: more than ``SEND_QUEUE_LIMIT`` frames were
    #: waiting for it. Reconnecting is safe; the other clients were not affected.
    SEND_QUEUE_FULL = 4000
    #: The client kept sending frames the topics protocol could not take: more than 20
    #: error replies within 10 seconds (see docs/protocol.md).
    PROTOCOL_ERROR = 4001
    #: The client asked for a version of the topics protocol this server does not speak.
    UNSUPPORTED_PROTOCOL = 4002


__all__ = ["CloseCode"]

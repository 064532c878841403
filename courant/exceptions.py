"""Exceptions raised by Courant.

The tree::

    CourantError
     ├── InvalidTopic        (also ValueError)  a topic name that cannot be used
     ├── EncodeError         (also TypeError)   published data that cannot be encoded
     ├── InvalidState        (also RuntimeError) an action in the wrong connection state
     ├── EngineError                             the engine failed to do its part
     │    └── ChannelFull                        a channel holds CHANNEL_CAPACITY messages
     ├── InvalidChannel  (also ValueError)       a channel name that cannot be used
     └── Reject                                  raised by your code to refuse a client's op

Bad input from a *client* never raises into user code: the connection driver maps it to a
close code (see :mod:`courant.closecodes`). These exceptions are for mistakes in the
server-side code that calls Courant.
"""


class CourantError(Exception):
    """Base class of every exception Courant raises on purpose."""


class InvalidTopic(CourantError, ValueError):
    """A topic name is empty, too long, or contains whitespace or control characters."""


class EncodeError(CourantError, TypeError):
    """Published data is neither ``str``, ``bytes`` nor JSON-serializable."""


class InvalidState(CourantError, RuntimeError):
    """A connection action was called in a state that does not allow it.

    For example ``send()`` before ``accept()``, or ``accept()`` twice.
    """


class EngineError(CourantError):
    """The engine could not do its part: its server is unreachable, or answered an error."""


class ChannelFull(EngineError):
    """A channel already holds ``CHANNEL_CAPACITY`` messages no worker has taken."""


class InvalidChannel(CourantError, ValueError):
    """A channel name is empty, too long, or contains whitespace or control characters."""


class Reject(CourantError):
    """Raise it in a topic class's ``clean()`` or in an RPC method to refuse what the
    client asked: the client gets an error reply with ``code`` and ``message`` (both
    shown to the client, so say nothing secret), and its connection stays open."""

    def __init__(self, message: str, code: str = "rejected") -> None:
        super().__init__(message)
        self.message = message
        self.code = code

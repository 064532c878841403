"""Courant: the real-time layer for Django.

The public API, and nothing else::

    courant.asgi_application(routes=...)   the project's ASGI application
    courant.Consumer, courant.JsonConsumer  handle one connection
    courant.publish / courant.apublish      publish to a topic from anywhere
    courant.Message                         what subscribers receive
    courant.CloseCode                       every close code Courant sends

Testing helpers live in :mod:`courant.testing`.
"""

from .application import asgi_application
from .closecodes import CloseCode
from .consumer import Consumer, JsonConsumer
from .exceptions import CourantError, EncodeError, EngineError, InvalidState, InvalidTopic
from .message import Message
from .publishing import apublish, publish

__version__ = "0.1.0.dev0"

__all__ = [
    "CloseCode",
    "Consumer",
    "CourantError",
    "EncodeError",
    "EngineError",
    "InvalidState",
    "InvalidTopic",
    "JsonConsumer",
    "Message",
    "apublish",
    "asgi_application",
    "publish",
]

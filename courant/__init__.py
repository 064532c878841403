"""Courant: the real-time layer for Django.

The public API, and nothing else::

    courant.asgi_application(routes=...)   the project's ASGI application
    courant.Consumer, courant.JsonConsumer  handle one connection
    courant.publish / courant.apublish      publish to a topic from anywhere
    courant.Message                         what subscribers receive
    courant.Position, courant.Recovery      where a client is in a topic; what it missed
    courant.Topic, courant.History          topic classes: who may subscribe and publish
    courant.Binding                         publish a model's changes once committed
    courant.method, courant.Reject          RPC methods; refusing what a client asked
    courant.TopicsConsumer                  the topics endpoint (mounted for you)
    courant.recheck / arecheck              unsubscribe clients no longer allowed on a topic
    courant.presence / apresence            who is on a topic now
    courant.stats                           this process's engine and counts, for a status page
    courant.send / asend / areceive         point-to-point channels for background work
    courant.Worker                          handles a channel in `manage.py courant_worker`
    courant.CloseCode                       every close code Courant sends

Testing helpers live in :mod:`courant.testing`.
"""

from .application import asgi_application
from .binding import Binding
from .channels import Worker, areceive, asend, send
from .closecodes import CloseCode
from .consumer import Consumer, JsonConsumer
from .endpoint import TopicsConsumer, arecheck, recheck
from .exceptions import (
    ChannelFull,
    CourantError,
    EncodeError,
    EngineError,
    InvalidChannel,
    InvalidState,
    InvalidTopic,
    Reject,
)
from .history import History, Position, Recovery
from .message import Message
from .presencehub import apresence, presence
from .publishing import apublish, publish
from .rpc import method
from .status import stats
from .topics import Topic

__version__ = "0.1.0.dev0"

__all__ = [
    "Binding",
    "ChannelFull",
    "CloseCode",
    "Consumer",
    "CourantError",
    "EncodeError",
    "EngineError",
    "History",
    "InvalidChannel",
    "InvalidState",
    "InvalidTopic",
    "JsonConsumer",
    "Message",
    "Position",
    "Recovery",
    "Reject",
    "Topic",
    "TopicsConsumer",
    "Worker",
    "apresence",
    "apublish",
    "areceive",
    "arecheck",
    "asend",
    "asgi_application",
    "method",
    "presence",
    "publish",
    "recheck",
    "send",
    "stats",
]

"""Model data binding: a model's changes published to topics, once they are committed.

A :class:`Binding` subclass says, for one model, what to send of an instance (``fields``
or :meth:`~Binding.serialize`) and where (:meth:`~Binding.topics`). Defining the class
connects it to the model's ``post_save`` and ``post_delete`` signals; from then on every
create, update and delete made through the ORM, from any code path (a view, the admin, a
management command, the shell, a task), publishes ``{"action": ..., "pk": ..., "data":
{...}}`` to each of the instance's topics (docs/binding.md).

What to publish is worked out when the signal fires, while the instance is as it was
saved or deleted (after a delete Django clears its pk); it is published once the
transaction commits (``transaction.on_commit``), so no client ever sees a change that was
rolled back. A failure to publish then (an engine that cannot be reached) is logged: the
data is committed by that point, and the request that saved it carries on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import decimal
import functools
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.db import models, transaction
from django.db.models.fields.files import FieldFile
from django.db.models.signals import post_delete, post_save
from django.utils.duration import duration_iso_string
from django.utils.functional import Promise

from .exceptions import EncodeError
from .hub import Hub, get_hub
from .message import Kind, Payload, encode
from .topics import validate_topic

logger = logging.getLogger("courant.binding")

#: The three actions a binding publishes.
ACTIONS = ("create", "update", "delete")


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types, the way a binding sends field values: datetimes,
    dates and times in ISO 8601 (``isoformat()``), durations in ISO 8601 too, ``Decimal``
    and ``UUID`` as strings, bytes in base64, a file field as its name; lists and dicts
    (a ``JSONField``'s value) element by element. Anything else is returned unchanged."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return duration_iso_string(value)
    if isinstance(value, decimal.Decimal | uuid.UUID | Promise):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, FieldFile):
        return value.name or None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def _field_value(field: models.Field[Any, Any], instance: Any) -> Any:
    """A field's value as the database holds it, JSON-safe: what was assigned may be a
    string or a Decimal of another precision, which the database would have converted."""
    value = field.value_from_object(instance)
    if value is None:
        return None
    with contextlib.suppress(ValidationError):  # else as it is: the database took it
        value = field.to_python(value)
    if (
        isinstance(field, models.DecimalField)
        and isinstance(value, decimal.Decimal)
        and value.is_finite()
        and field.decimal_places is not None
    ):
        value = value.quantize(decimal.Decimal(1).scaleb(-field.decimal_places))
    return json_safe(value)


class Binding:
    """Publish a model's changes to topics. Subclass it in an app's ``topics`` module::

        class TaskBinding(courant.Binding):
            model = Task
            fields = ["title", "done", "owner"]

            def topics(self, task):
                return ["tasks", f"task:{task.pk}"]

    Every subclass that has a ``model`` is a binding of its own, registered when it is
    defined (a base class without ``model`` binds nothing, and can share code). On each
    create, update or delete of a ``model`` instance through the ORM, once the transaction
    commits, each topic of :meth:`topics` gets ``{"action": "create" | "update" |
    "delete", "pk": <pk>, "data": <serialize(instance)>}``. ``QuerySet.update()``,
    ``bulk_create()``, ``bulk_update()``, raw SQL and ``loaddata`` send no signals, so
    they publish nothing.
    """

    #: The model whose changes are published (exactly this model: not its proxies, nor
    #: the models that inherit from it).
    model: ClassVar[type[models.Model]]
    #: The model fields to send, by name; a foreign key sends the related object's pk
    #: under the field's name. Leave it out when :meth:`serialize` is overridden.
    fields: ClassVar[Sequence[str] | None] = None

    # The model fields named by ``fields``, resolved when the class is defined.
    _fields: ClassVar[tuple[tuple[str, models.Field[Any, Any]], ...]] = ()

    def __init_subclass__(cls, **options: Any) -> None:
        super().__init_subclass__(**options)
        if getattr(cls, "model", None) is None:
            return  # a base class: it binds nothing
        cls._fields = _check(cls)
        _connect(cls)

    def topics(self, instance: Any) -> Iterable[str]:
        """Where ``instance``'s changes go: a list of topic names (one name alone is
        fine). Called when the change happens, with the instance as saved (or, for a
        delete, as it was); return nothing to publish nothing. Must be overridden."""
        raise NotImplementedError(f"{type(self).__qualname__} must define topics(instance)")

    def serialize(self, instance: Any) -> dict[str, Any]:
        """The ``data`` of ``instance``'s messages: a dict of JSON values. By default the
        model fields named in ``fields``, made JSON-safe by :func:`json_safe`; override it
        to send anything else (call ``super().serialize(instance)`` to start from those).
        It runs when the signal fires, inside the saving code's transaction, so it may
        use the ORM."""
        return {name: _field_value(field, instance) for name, field in self._fields}

    def rows(self, instances: Iterable[Any]) -> list[dict[str, Any]]:
        """``[{"pk": pk, **serialize(instance)}, ...]``: the rows courant.js's
        ``client.sync()`` takes as its initial state, from a page or an RPC method."""
        return [
            {**self.serialize(instance), "pk": json_safe(instance.pk)} for instance in instances
        ]

    # -- the signals --------------------------------------------------------------------

    def _saved(
        self, instance: Any, created: bool, raw: bool = False, using: str = "default", **_: Any
    ) -> None:
        if not raw:  # loaddata: fixtures are not changes anyone is watching
            self._changed("create" if created else "update", instance, using)

    def _deleted(self, instance: Any, using: str = "default", **_: Any) -> None:
        self._changed("delete", instance, using)

    def _changed(self, action: str, instance: Any, using: str) -> None:
        # Everything is read now: after a delete Django sets the pk to None, and a later
        # save in the same transaction would change what this change was.
        topics = self.topics(instance)
        names = [topics] if isinstance(topics, str) else list(topics or ())
        if not names:
            return
        for name in names:
            validate_topic(name)
        message = {"action": action, "pk": json_safe(instance.pk), "data": self.serialize(instance)}
        try:
            kind, payload = encode(message)
        except EncodeError as exc:
            raise EncodeError(
                f"{type(self).__qualname__} cannot publish {self.model.__name__} "
                f"{instance.pk!r}: {exc}. Make serialize() return JSON values"
            ) from exc
        publish = functools.partial(_publish, type(self).__qualname__, names, kind, payload)
        transaction.on_commit(publish, using=using)


def _check(cls: type[Binding]) -> tuple[tuple[str, models.Field[Any, Any]], ...]:
    """Refuse a binding declared wrong, saying why; return its fields, resolved."""
    name = cls.__qualname__
    model = cls.model
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        raise ImproperlyConfigured(f"{name}.model must be a Django model class, not {model!r}")
    if model._meta.abstract:
        raise ImproperlyConfigured(
            f"{name}.model is the abstract model {model.__name__}: bind a concrete one"
        )
    if cls.topics is Binding.topics:
        raise ImproperlyConfigured(f"{name} must define topics(self, instance): where changes go")
    fields = cls.fields
    if fields is None:
        if cls.serialize is Binding.serialize:
            raise ImproperlyConfigured(
                f"{name} must say what to send: fields = [...] or serialize(self, instance)"
            )
        return ()
    if isinstance(fields, str) or not all(isinstance(field, str) for field in fields):
        raise ImproperlyConfigured(f"{name}.fields must be a list of field names, not {fields!r}")
    resolved = []
    for field_name in fields:
        try:
            field = model._meta.get_field(field_name)
        except FieldDoesNotExist:
            raise ImproperlyConfigured(
                f"{name}.fields: {model.__name__} has no field {field_name!r}"
            ) from None
        if field.many_to_many or field.one_to_many or not field.concrete:
            raise ImproperlyConfigured(
                f"{name}.fields: {model.__name__}.{field_name} is not a column of the model "
                "(many-to-many and reverse relations change without post_save); send it "
                "from serialize() instead"
            )
        assert isinstance(field, models.Field)
        resolved.append((field_name, field))
    return tuple(resolved)


#: Every binding in the process, by ``module.qualname``.
registry: dict[str, type[Binding]] = {}


def _uid(cls: type[Binding]) -> str:
    return f"courant.binding:{cls.__module__}.{cls.__qualname__}"


def _connect(cls: type[Binding]) -> None:
    # Keyed by the class's dotted name: a module imported twice (or reloaded) replaces
    # its bindings instead of publishing every change twice.
    uid = _uid(cls)
    previous = registry.get(uid)
    if previous is not None:
        unregister(previous)
    binding = cls()
    post_save.connect(_receiver(binding._saved), sender=cls.model, weak=False, dispatch_uid=uid)
    post_delete.connect(_receiver(binding._deleted), sender=cls.model, weak=False, dispatch_uid=uid)
    registry[uid] = cls


def _receiver(method: Any) -> Any:
    def receive(sender: type[models.Model], instance: Any, **kwargs: Any) -> None:
        method(instance, **kwargs)

    return receive


def unregister(cls: type[Binding]) -> None:
    """Disconnect ``cls`` from its model's signals (for tests; and for bindings replaced)."""
    uid = _uid(cls)
    if registry.get(uid) is cls:
        del registry[uid]
        post_save.disconnect(sender=cls.model, dispatch_uid=uid)
        post_delete.disconnect(sender=cls.model, dispatch_uid=uid)


def _publish(binding: str, topics: list[str], kind: Kind, payload: Payload) -> None:
    """Run by ``transaction.on_commit``: publish one change to each of its topics. The
    data is committed: a failure is logged, never raised into the code that saved it."""
    hub = get_hub()
    for topic in topics:
        try:
            _publish_one(hub, binding, topic, kind, payload)
        except Exception:
            logger.exception(
                "%s: publishing a change to %r after the commit failed", binding, topic
            )


def _publish_one(hub: Hub, binding: str, topic: str, kind: Kind, payload: Payload) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        # Sync code (a view, the admin, a command, the shell): through the hub's loop if
        # this process serves connections, else straight to the engine.
        hub.publish_blocking(topic, kind, payload)
        return
    # A commit made on an event loop's thread: it must not block, so publish in a task.
    task = loop.create_task(hub.publish(topic, kind, payload))
    task.add_done_callback(functools.partial(_report, binding, topic))
    _running.add(task)


_running: set[asyncio.Task[Any]] = set()


def _report(binding: str, topic: str, task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "%s: publishing a change to %r after the commit failed",
            binding,
            topic,
            exc_info=task.exception(),
        )


__all__ = ["ACTIONS", "Binding", "json_safe", "registry", "unregister"]

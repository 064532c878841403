"""Topic classes and RPC methods that exist only for tests (imported at start-up, as every
installed app's ``topics`` module is)."""

from typing import Any

import courant

from .models import Gadget


class OpenTopic(courant.Topic):
    pattern = "open:{name}"
    history = courant.History(size=5, ttl=None)

    def can_subscribe(self, user: Any, name: str) -> bool:
        return True

    def can_publish(self, user: Any, name: str) -> bool:
        return True


class MembersTopic(courant.Topic):
    """Sync checks that use the ORM: members of the Django group named in the topic."""

    pattern = "members:{group}"

    def can_subscribe(self, user: Any, group: str) -> bool:
        return bool(user.is_authenticated and user.groups.filter(name=group).exists())

    def can_publish(self, user: Any, group: str) -> bool:
        return self.can_subscribe(user, group)


class StampedTopic(courant.Topic):
    """Async checks, and a clean() that stamps the sender and refuses empty messages."""

    pattern = "stamped:{room}:chat"

    async def can_subscribe(self, user: Any, room: str) -> bool:
        return True

    async def can_publish(self, user: Any, room: str) -> bool:
        return bool(user.is_authenticated)

    def clean(self, user: Any, data: Any, room: str) -> Any:
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise courant.Reject("a message needs some text")
        return {"text": text[:10], "user": user.get_username(), "room": room}


class ClosedTopic(courant.Topic):
    """No checks defined: nobody may subscribe or publish."""

    pattern = "closed:{name}"


@courant.method("math.add")
def add(user: Any, params: Any) -> Any:
    return params["a"] + params["b"]


@courant.method("whoami")
async def whoami(user: Any, params: Any) -> str:
    return str(user.get_username())


@courant.method("fail.reject")
def reject(user: Any, params: Any) -> None:
    raise courant.Reject("no such room", code="not_found")


@courant.method("fail.crash")
def crash(user: Any, params: Any) -> None:
    raise RuntimeError("secret detail")


@courant.method("fail.unencodable")
def unencodable(user: Any, params: Any) -> object:
    return object()


class BoardTopic(courant.Topic):
    """Presence: who is looking at a board, reading or editing."""

    pattern = "board:{id}"
    presence = True

    def can_subscribe(self, user: Any, id: str) -> bool:
        return True

    def clean_presence(self, user: Any, meta: Any, id: str) -> dict[str, str]:
        state = meta.get("state")
        if state not in ("reading", "editing"):
            raise courant.Reject("state is reading or editing")
        return {"state": state, "name": user.get_username() or "anonymous"}


# -- model data binding (tests/test_binding.py) ---------------------------------------------


class GadgetBinding(courant.Binding):
    """Every field kind a binding makes JSON-safe, to a list topic and a topic per gadget."""

    model = Gadget
    fields = ["name", "price", "serial", "made", "maker"]

    def topics(self, gadget: Gadget) -> list[str]:
        return ["gadgets", f"gadget:{gadget.pk}"]


class Gadgets(courant.Topic):
    pattern = "gadgets"
    history = courant.History(size=50, ttl=None)

    def can_subscribe(self, user: Any, **fields: str) -> bool:
        return True


class OneGadget(Gadgets):
    pattern = "gadget:{id}"


class AddressedTopic(courant.Topic):
    """can_receive: a message reaches the users named in its "to" (everyone, without one);
    one with "boom" makes the check raise."""

    pattern = "addressed:{name}"
    history = courant.History(size=20, ttl=None)

    def can_subscribe(self, user: Any, name: str) -> bool:
        return True

    def can_publish(self, user: Any, name: str) -> bool:
        return True

    def can_receive(self, user: Any, data: Any, name: str) -> bool:
        if not isinstance(data, dict):
            return True
        if data.get("boom"):
            raise RuntimeError("can_receive failed on purpose")
        to = data.get("to")
        return to is None or user.get_username() in to

# rooms/tests.py
from courant.testing import WebSocketClient

from mysite.asgi import application


async def test_room_echoes_to_everyone():
    async with (
        WebSocketClient(application, "/ws/rooms/lobby/") as alice,
        WebSocketClient(application, "/ws/rooms/lobby/") as bob,
    ):
        await alice.send_json({"text": "hi"})
        assert (await bob.receive_json())["text"] == "hi"
        assert (await alice.receive_json())["text"] == "hi"
        assert await bob.receive_nothing()

"""The documentation's examples are real code: each block that names a file is that file,
and the files run."""

from __future__ import annotations

import ast
import re
import sys
import threading
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory

from courant import CloseCode
from courant.conf import _PARSERS, Settings, parse

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
QUICKSTART = EXAMPLES / "quickstart"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def code_blocks(path: Path) -> list[str]:
    return re.findall(r"```(?:python|js)\n(.*?)```", path.read_text(), flags=re.S)


def example_files() -> dict[str, str]:
    """The example apps' files (the quick start; docs/binding.md's todos app, which the
    test settings install, so that tests/test_binding_live.py and
    tests/browser/test_binding.py run it), by their first line, which names them.
    Migrations are generated, not shown."""
    return {
        p.read_text().splitlines()[0]: p.read_text()
        for p in sorted(EXAMPLES.rglob("*"))
        if p.suffix in (".py", ".js") and p.stat().st_size and "migrations" not in p.parts
    }


def test_every_block_naming_a_file_is_that_file_and_every_file_is_shown():
    files = example_files()
    shown = set()
    for doc in DOCS:
        for block in code_blocks(doc):
            first = block.splitlines()[0]
            if first in files:
                assert block == files[first], (
                    f"{doc.name}: the block {first!r} differs from its file"
                )
                shown.add(first)
    assert shown == set(files), f"example files not shown in the docs: {set(files) - shown}"


def test_every_python_block_in_the_docs_parses():
    for doc in DOCS:
        for block in python_blocks(doc):
            try:
                ast.parse(block)
            except SyntaxError:
                # Blocks inside a class body, shown on their own: parse them indented.
                ast.parse("class _:\n" + "".join(f"    {line}\n" for line in block.splitlines()))


@pytest.fixture
def quickstart(monkeypatch):
    monkeypatch.syspath_prepend(str(QUICKSTART))
    yield
    for name in [n for n in sys.modules if n.split(".")[0] in ("rooms", "mysite")]:
        del sys.modules[name]


async def test_the_quick_start_test_passes(quickstart):
    from rooms.tests import test_room_echoes_to_everyone  # type: ignore[import-not-found]

    await test_room_echoes_to_everyone()


@pytest.mark.django_db(transaction=True)
async def test_the_quick_start_view_publishes_to_the_room(quickstart):
    from mysite.asgi import application  # type: ignore[import-not-found]
    from rooms.views import announce  # type: ignore[import-not-found]

    from courant.testing import WebSocketClient

    staff, _ = await get_user_model().objects.aget_or_create(
        username="staffer", defaults={"is_staff": True}
    )
    request = RequestFactory().post("/announce/", {"text": "doors close at six"})
    request.user = staff
    async with WebSocketClient(application, "/ws/rooms/hall/", user=staff) as ws:
        responses = []
        thread = threading.Thread(target=lambda: responses.append(announce(request, "hall")))
        thread.start()
        assert await ws.receive_json(timeout=5) == {"from": "staff", "text": "doors close at six"}
        thread.join()
        await ws.send_json({"text": "thanks"})
        assert await ws.receive_json() == {"from": "staffer", "text": "thanks"}
    assert responses[0].status_code == 200


def test_the_close_code_table_lists_exactly_the_close_codes():
    text = (ROOT / "docs" / "close-codes.md").read_text()
    rows = re.findall(r"^\| (\d{4}) \| `(\w+)` \|", text, flags=re.M)
    assert [(int(code), name) for code, name in rows] == [(c.value, c.name) for c in CloseCode]


def test_the_settings_page_lists_every_key_with_its_default():
    text = (ROOT / "docs" / "limits.md").read_text()
    keys = re.findall(r"^\| `([A-Z_]+)` \|", text, flags=re.M)
    assert sorted(keys) == sorted(_PARSERS)
    block = next(
        b for b in python_blocks(ROOT / "docs" / "limits.md") if b.startswith("COURANT = {")
    )
    namespace: dict[str, object] = {}
    exec(block, namespace)
    assert parse(namespace["COURANT"]) == Settings()  # type: ignore[arg-type]  # the example shows the defaults


@pytest.mark.django_db(transaction=True)
async def test_the_topic_class_example_allows_refuses_and_reshapes(quickstart):
    import rooms.topics  # type: ignore[import-not-found]  # noqa: F401 - defines the class

    from courant.testing import WebSocketClient
    from tests.asgi import application

    ada = await get_user_model().objects.acreate(username="ada-docs")
    async with WebSocketClient(application, "/courant/", user=ada) as ws:
        assert (await ws.receive_json())["type"] == "hello"
        await ws.send_json({"op": "subscribe", "id": 1, "topic": "room:hall"})
        assert (await ws.receive_json())["type"] == "subscribed"
        await ws.send_json({"op": "publish", "id": 2, "topic": "room:hall", "data": {"text": "hi"}})
        frames = [await ws.receive_json(), await ws.receive_json()]
        assert {"from": "ada-docs", "text": "hi"} in [f.get("data") for f in frames]
        await ws.send_json({"op": "publish", "id": 3, "topic": "room:hall", "data": {}})
        assert (await ws.receive_json())["error"] == {
            "code": "rejected",
            "message": "say something",
        }
        await ws.send_json({"op": "call", "id": 4, "method": "rooms.count"})
        assert (await ws.receive_json())["result"] == {"rooms": 3}
    async with WebSocketClient(application, "/courant/") as anonymous:
        await anonymous.receive_json()
        await anonymous.send_json({"op": "publish", "id": 1, "topic": "room:hall", "data": {}})
        assert (await anonymous.receive_json())["error"]["code"] == "forbidden"

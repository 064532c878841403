"""Topic classes and RPC registration, without I/O."""

import pytest
from django.core.exceptions import ImproperlyConfigured

import courant
from courant.conf import Settings
from courant.engines import create_engine
from courant.history import History
from courant.rpc import method, methods
from courant.topics import TopicRegistry, compile_pattern, registry


@pytest.mark.parametrize(
    ("pattern", "name", "fields"),
    [
        ("chat:{room}", "chat:lobby", {"room": "lobby"}),
        ("doc:{id}:comments", "doc:42:comments", {"id": "42"}),
        ("user:{a}:{b}", "user:x:y", {"a": "x", "b": "y"}),
        ("ticker", "ticker", {}),
        ("price.{symbol}", "price.ACME", {"symbol": "ACME"}),
    ],
)
def test_a_pattern_matches_whole_names_and_captures_its_fields(pattern, name, fields):
    found = compile_pattern(pattern).fullmatch(name)
    assert found is not None
    assert found.groupdict() == fields


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        ("chat:{room}", "chat:"),
        ("chat:{room}", "chat:a:b"),  # a field never spans a colon
        ("chat:{room}", "xchat:a"),
        ("price.{symbol}", "priceXACME"),  # literal parts are literal
    ],
)
def test_a_pattern_matches_nothing_else(pattern, name):
    assert compile_pattern(pattern).fullmatch(name) is None


@pytest.mark.parametrize("pattern", ["", "chat:{}", "chat:{room", "a:{1x}", "{a}:{a}"])
def test_a_malformed_pattern_is_refused_at_definition(pattern):
    with pytest.raises(ImproperlyConfigured):
        compile_pattern(pattern)


def test_defining_a_class_registers_it_and_it_denies_by_default():
    class Quiet(courant.Topic):
        pattern = "quiet-test:{name}"

    try:
        found = registry.match("quiet-test:abc")
        assert isinstance(found, Quiet)
        assert (found.name, found.fields) == ("quiet-test:abc", {"name": "abc"})
        assert found.can_subscribe(None, name="abc") is False
        assert found.can_publish(None, name="abc") is False
        assert found.clean(None, {"x": 1}, name="abc") == {"x": 1}
    finally:
        registry.unregister(Quiet)
    assert registry.match("quiet-test:abc") is None


def test_two_classes_cannot_claim_one_pattern():
    class First(courant.Topic):
        pattern = "claimed-test:{x}"

    try:
        with pytest.raises(ImproperlyConfigured, match="both claim"):

            class Second(courant.Topic):
                pattern = "claimed-test:{y}"  # the same topics, named differently

    finally:
        registry.unregister(First)


def test_the_first_class_defined_wins_a_name_two_patterns_match():
    local = TopicRegistry()

    class Specific(courant.Topic):
        pattern = "order-test:{a}:{b}"

    class General(courant.Topic):
        pattern = "order-test:{a}:x"

    try:
        local.register(Specific)
        local.register(General)
        assert isinstance(local.match("order-test:1:x"), Specific)
    finally:
        registry.unregister(Specific)
        registry.unregister(General)


def test_a_topic_class_history_wins_over_the_history_setting():
    class Kept(courant.Topic):
        pattern = "kept-test:{name}"
        history = History(size=3, ttl=9.0)

    try:
        engine = create_engine(
            ["memory://"], Settings(history=(("kept-test:*", History(50, None)),))
        )
        assert engine.history.for_topic("kept-test:a") == History(3, 9.0)
        assert engine.history.for_topic("other:a") == History()  # the default
    finally:
        registry.unregister(Kept)


def test_history_must_be_a_history():
    with pytest.raises(ImproperlyConfigured, match=r"must be a courant\.History"):

        class Wrong(courant.Topic):
            pattern = "wrong-test:{name}"
            history = {"size": 3}  # type: ignore[assignment]


def test_rpc_names_are_dotted_identifiers_defined_once():
    @method("rpctest.fine_name")
    def fine(user: object, params: object) -> None: ...

    @method
    def bare_decorator(user: object, params: object) -> None: ...

    try:
        assert methods["rpctest.fine_name"] is fine
        assert methods["bare_decorator"] is bare_decorator
        with pytest.raises(ImproperlyConfigured, match="dotted identifiers"):
            method("has space")(fine)
        with pytest.raises(ImproperlyConfigured, match="defined twice"):

            @method("rpctest.fine_name")
            def other(user: object, params: object) -> None: ...
    finally:
        methods.pop("rpctest.fine_name", None)
        methods.pop("bare_decorator", None)

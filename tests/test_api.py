import courant


def test_the_public_api_is_small_and_pinned():
    assert sorted(courant.__all__) == [
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
    for name in courant.__all__:
        assert getattr(courant, name).__module__.startswith("courant")

import courant


def test_the_public_api_is_small_and_pinned():
    assert sorted(courant.__all__) == [
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
    for name in courant.__all__:
        assert getattr(courant, name).__module__.startswith("courant")

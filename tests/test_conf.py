import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from courant.conf import Settings, get_settings, parse
from courant.history import History


def test_defaults_are_the_documented_safe_limits():
    settings = parse({})
    assert settings == Settings()
    assert settings.engine == ("memory://",)
    assert settings.history == ()
    assert (settings.channel_capacity, settings.channel_expiry) == (100, 60.0)
    assert settings.max_message_size == 1024 * 1024
    assert settings.send_queue_limit == 1024
    assert settings.heartbeat_interval == 20.0


def test_values_are_parsed_and_origins_normalised():
    settings = parse(
        {
            "ENGINE": "memory://",
            "MAX_MESSAGE_SIZE": None,
            "ALLOWED_ORIGINS": ["https://App.example.com/"],
        }
    )
    assert settings.max_message_size is None
    assert settings.allowed_origins == ("https://app.example.com",)


def test_engine_takes_a_list_of_servers_and_history_takes_patterns():
    settings = parse(
        {
            "ENGINE": ["redis://a:6379/0", "redis://b:6379/0"],
            "HISTORY": {"chat:*": {"size": 5, "ttl": 30}, "ticker:*": {"size": 0, "ttl": None}},
        }
    )
    assert settings.engine == ("redis://a:6379/0", "redis://b:6379/0")
    assert settings.history == (("chat:*", History(5, 30.0)), ("ticker:*", History(0, None)))
    # A pattern that leaves out a key keeps the default for it.
    assert parse({"HISTORY": {"x:*": {"size": 3}}}).history == (("x:*", History(3, 300.0)),)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"ENGNE": "memory://"}, "Unknown COURANT setting(s) 'ENGNE'"),
        ({"SEND_QUEUE_LIMIT": 0}, "COURANT['SEND_QUEUE_LIMIT'] must be a positive integer"),
        ({"SEND_QUEUE_LIMIT": True}, "must be a positive integer"),
        ({"MAX_MESSAGE_SIZE": "1MB"}, "positive integer or None"),
        ({"HEARTBEAT_TIMEOUT": None}, "positive number of seconds"),
        ({"ALLOWED_ORIGINS": "https://a.example"}, "must be a list of origins"),
        ({"ALLOWED_ORIGINS": ["a.example"]}, "must look like 'https://example.com'"),
        ({"ENGINE": ""}, "non-empty string"),
        ({"ENGINE": []}, "an engine URL or a list of them"),
        ({"ENGINE": ["redis://a", "memory://"]}, "mixes engines (memory, redis)"),
        ({"HISTORY": {"a:*": {"size": -1}}}, "COURANT['HISTORY']['a:*']['size'] must be"),
        ({"HISTORY": {"a:*": {"sise": 3}}}, "unknown key(s) sise"),
        ({"HISTORY": {"a:*": {"ttl": 0}}}, "must be a positive number of seconds or None"),
        ({"HISTORY": ["a:*"]}, "must map topic patterns"),
        ({"CHANNEL_CAPACITY": 0}, "COURANT['CHANNEL_CAPACITY'] must be a positive integer"),
    ],
)
def test_bad_settings_name_the_key(raw, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        parse(raw)


def test_settings_follow_override_settings(settings):
    assert get_settings().send_queue_limit == 1024
    settings.COURANT = {"SEND_QUEUE_LIMIT": 7}
    assert get_settings().send_queue_limit == 7

import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from courant.conf import Settings, get_settings, parse


def test_defaults_are_the_documented_safe_limits():
    settings = parse({})
    assert settings == Settings()
    assert settings.engine == "memory://"
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
    ],
)
def test_bad_settings_name_the_key(raw, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        parse(raw)


def test_settings_follow_override_settings(settings):
    assert get_settings().send_queue_limit == 1024
    settings.COURANT = {"SEND_QUEUE_LIMIT": 7}
    assert get_settings().send_queue_limit == 7

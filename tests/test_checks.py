from courant.checks import check_origin, check_runserver, check_settings


def ids(messages):
    return [message.id for message in messages]


def test_the_test_project_passes_every_check():
    assert check_settings() + check_origin() + check_runserver() == []


def test_invalid_courant_settings_are_an_error(settings):
    settings.COURANT = {"SEND_QUEUE_LIMIT": -1}
    assert ids(check_settings()) == ["courant.E001"]
    settings.COURANT = {"ENGINE": "kafka://localhost"}
    (error,) = check_settings()
    assert error.id == "courant.E002"
    assert "memory://" in str(error.hint)


def test_origin_check_switched_off_warns_outside_debug(settings):
    settings.COURANT = {"ALLOWED_ORIGINS": ["*"]}
    settings.DEBUG = True
    assert check_origin() == []
    settings.DEBUG = False
    assert ids(check_origin()) == ["courant.W001"]


def test_runserver_setup_mistakes_are_warned(settings):
    settings.INSTALLED_APPS = ["django.contrib.staticfiles", "courant"]
    del settings.ASGI_APPLICATION
    assert ids(check_runserver()) == ["courant.W002", "courant.W003"]

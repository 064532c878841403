"""Test settings: the example project plus consumers that exist only for tests."""

import json
import os
import sys

from example.settings import *  # noqa: F403

# The app of docs/binding.md's example is installed, so that the tests run it as shown.
sys.path.append(str(BASE_DIR.parent / "docs" / "examples" / "binding"))  # noqa: F405

INSTALLED_APPS = [*INSTALLED_APPS, "tests", "todos"]  # noqa: F405
ASGI_APPLICATION = "tests.asgi.application"
# A file, not memory: Django never closes in-memory SQLite connections, and sync handlers
# use the database from worker threads whose connections must close between tests.
DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR.parent / ".test-db.sqlite3")}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# Live tests start servers with tighter limits than the defaults, through the environment.
COURANT = {**COURANT, **json.loads(os.environ.get("COURANT_TEST_SETTINGS", "{}"))}  # noqa: F405

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed


def _settings_changed(setting: str, **kwargs: Any) -> None:
    if setting != "COURANT":
        return
    from .conf import get_settings
    from .hub import reset_hub

    get_settings.cache_clear()
    reset_hub()


class CourantConfig(AppConfig):
    name = "courant"
    verbose_name = "Courant"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from . import checks  # noqa: F401 - registers the system checks

        # Topic classes and RPC methods live in each app's topics module.
        autodiscover_modules("topics")

        setting_changed.connect(_settings_changed, dispatch_uid="courant.settings_changed")

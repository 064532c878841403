from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo site's shell: the shared layout, the home page and the status page."""

    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"

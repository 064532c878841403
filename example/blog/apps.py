from django.apps import AppConfig


class BlogConfig(AppConfig):
    """The live blog: editors write in the admin or the editor page, readers see it live."""

    name = "blog"
    default_auto_field = "django.db.models.BigAutoField"

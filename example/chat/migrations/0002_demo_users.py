"""The demo users. Every one has the password ``courant-demo``; alice is also an admin."""

from django.contrib.auth.hashers import make_password
from django.db import migrations

DEMO_USERS = [
    ("alice", "Alice", True),
    ("bob", "Bob", False),
    ("carol", "Carol", False),
]
DEMO_PASSWORD = "courant-demo"


def create_demo_users(apps, schema_editor):
    User = apps.get_model("auth", "User")
    password = make_password(DEMO_PASSWORD)
    for username, first_name, admin in DEMO_USERS:
        User.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first_name,
                "password": password,
                "is_staff": admin,
                "is_superuser": admin,
            },
        )


def remove_demo_users(apps, schema_editor):
    apps.get_model("auth", "User").objects.filter(
        username__in=[name for name, _, _ in DEMO_USERS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("chat", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_demo_users, remove_demo_users)]

"""The demo's documents, by different demo users (chat's 0002 creates the users)."""

from django.db import migrations

DEMO_DOCUMENTS = [
    (
        "alice",
        "Release plan",
        False,
        "Version 1.0 ships when the board, the blog and the chat all run on Redis.\n\n"
        "- Freeze the protocol\n- Write the upgrade notes\n- Tag and announce",
    ),
    (
        "bob",
        "Meeting notes",
        False,
        "Monday stand-up\n\nAlice: release plan drafted.\nBob: board dashboard.\n"
        "Carol: style guide review.",
    ),
    (
        "carol",
        "Style guide",
        True,
        "Write short sentences. Say why, not what. One idea per paragraph.\n\n"
        "Locked: Carol keeps this one tidy; ask her for changes.",
    ),
    (
        "alice",
        "Reading list",
        False,
        "Papers and posts about real-time systems worth an afternoon each.",
    ),
]


def create_documents(apps, schema_editor):
    User = apps.get_model("auth", "User")
    Document = apps.get_model("board", "Document")
    for username, title, locked, body in DEMO_DOCUMENTS:
        author = User.objects.filter(username=username).first()
        if author is None:
            continue  # the demo users were removed: no demo documents either
        Document.objects.get_or_create(
            title=title,
            author=author,
            defaults={"body": body, "locked": locked, "updated_by": author},
        )


def remove_documents(apps, schema_editor):
    apps.get_model("board", "Document").objects.filter(
        title__in=[title for _, title, _, _ in DEMO_DOCUMENTS],
        author__username__in=[username for username, _, _, _ in DEMO_DOCUMENTS],
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("board", "0001_initial"), ("chat", "0002_demo_users")]

    operations = [migrations.RunPython(create_documents, remove_documents)]

"""The live blog's first posts, by alice (the demo users come from chat's 0002)."""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

# (title, body, days ago, published)
DEMO_POSTS = [
    (
        "Welcome to the live blog",
        "Keep this page open. When an editor publishes, edits or deletes a post, in the "
        "Django admin or on the editor page, this page follows at once: no reload, no "
        "polling.\n\nLog in as alice (password courant-demo) in another window to try it.",
        1,
        True,
    ),
    (
        "How it works",
        "Saving a post sends Django's post_save signal. A binding of the Post model turns "
        "it into a message on the topic blog:posts, once the transaction commits, and "
        "every page that follows the topic updates the post it shows.\n\nNothing in the "
        "views knows about it: the admin, the editor and the shell all go through the "
        "same signal.",
        2,
        True,
    ),
    (
        "Many processes, one blog",
        "With COURANT_ENGINE=redis://127.0.0.1:6379/0 the demo runs on several processes, "
        "and a post saved on one reaches readers connected to any other.",
        3,
        True,
    ),
]


def create_demo_posts(apps, schema_editor):
    User = apps.get_model("auth", "User")
    Post = apps.get_model("blog", "Post")
    alice = User.objects.filter(username="alice").first()
    if alice is None or Post.objects.exists():
        return
    now = timezone.now()
    for title, body, days, published in DEMO_POSTS:
        post = Post.objects.create(title=title, body=body, author=alice, published=published)
        # auto_now_add and auto_now set both dates at save: date the post back, unedited.
        when = now - timedelta(days=days)
        Post.objects.filter(pk=post.pk).update(created=when, updated=when)


def remove_demo_posts(apps, schema_editor):
    apps.get_model("blog", "Post").objects.filter(
        title__in=[title for title, _, _, _ in DEMO_POSTS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("blog", "0001_initial"), ("chat", "0002_demo_users")]

    operations = [migrations.RunPython(create_demo_posts, remove_demo_posts)]

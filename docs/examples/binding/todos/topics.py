# todos/topics.py
import courant
from django.db.models import Q

from .models import Task


class TaskBinding(courant.Binding):
    """Every change of a task, published once its transaction has committed."""

    model = Task
    fields = ["title", "done", "private", "owner", "updated"]

    def topics(self, task):
        return ["todos", f"todos:{task.pk}"]  # the list, and the task's own page


class Todos(courant.Topic):
    """All tasks, for logged-in users; a private task's changes reach its owner only."""

    pattern = "todos"
    history = courant.History(size=100, ttl=600)

    def can_subscribe(self, user, **fields):
        return user.is_authenticated

    def can_receive(self, user, data, **fields):
        task = data["data"]  # what TaskBinding published: {"action", "pk", "data"}
        return not task["private"] or task["owner"] == user.pk


class Todo(Todos):
    """One task: the same rules."""

    pattern = "todos:{id}"


@courant.method("todos.list")
def list_tasks(user, params):
    """The initial state for client.sync("todos", {load}): the tasks this user may see."""
    if not user.is_authenticated:
        raise courant.Reject("log in first", code="forbidden")
    visible = Task.objects.filter(Q(private=False) | Q(owner=user.pk)).order_by("pk")
    return TaskBinding().rows(visible)

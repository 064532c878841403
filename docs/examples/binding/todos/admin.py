# todos/admin.py
from django.contrib import admin

from .models import Task

admin.site.register(Task)  # saving a task in the admin publishes it too

from django.urls import path

from . import views

app_name = "blog"

urlpatterns = [
    path("", views.index, name="index"),
    path("editor/", views.editor, name="editor"),
    path("editor/new/", views.create, name="create"),
    path("editor/<int:pk>/", views.edit, name="edit"),
    path("editor/<int:pk>/delete/", views.delete, name="delete"),
]

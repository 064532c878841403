from django.urls import path

from . import views

app_name = "demo"

urlpatterns = [
    path("status/", views.status, name="status"),
]

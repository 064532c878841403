from django.urls import path

from . import views

app_name = "chat"

urlpatterns = [
    path("", views.open_room, name="open"),
    path("<slug:room>/", views.room, name="room"),
    path("<slug:room>/socket/", views.socket_room, name="socket"),
    path("<slug:room>/post/", views.post, name="post"),
]

# rooms/routing.py
from django.urls import path

from .consumers import RoomConsumer

routes = [
    path("ws/rooms/<slug:name>/", RoomConsumer.as_asgi()),
]

"""WebSocket routes, written like urls.py."""

from django.urls import path

from chat.consumers import BenchConsumer, ChatConsumer

routes = [
    path("ws/chat/<slug:room>/", ChatConsumer.as_asgi()),
    # The benchmark contract (bench/): join topic <room>, broadcast every frame verbatim.
    path("ws/bench/<str:room>/", BenchConsumer.as_asgi()),
]

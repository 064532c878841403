from django.urls import path, re_path

from example.routing import routes as example_routes

from .consumers import (
    BrokenConsumer,
    EchoConsumer,
    HookConsumer,
    ListenConsumer,
    PresentConsumer,
    ResumeConsumer,
    SyncHookConsumer,
    TrackingConsumer,
    WatchedConsumer,
)

routes = [
    *example_routes,
    path("ws/echo/", EchoConsumer.as_asgi()),
    path("ws/echo/<str:prefix>/", EchoConsumer.as_asgi(greeting="hello")),
    re_path(r"^ws/items/(\d+)/$", EchoConsumer.as_asgi()),
    path("ws/watched/<str:room>/", WatchedConsumer.as_asgi()),
    path("ws/broken/<str:where>/", BrokenConsumer.as_asgi()),
    path("ws/hook/<str:room>/", HookConsumer.as_asgi()),
    path("ws/synchook/<str:room>/", SyncHookConsumer.as_asgi()),
    path("ws/track/<str:room>/", TrackingConsumer.as_asgi()),
    path("ws/resume/<str:room>/", ResumeConsumer.as_asgi()),
    path("ws/present/<str:room>/", PresentConsumer.as_asgi()),
    path("ws/listen/<str:topic>/", ListenConsumer.as_asgi()),
]

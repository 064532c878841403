from django.urls import include, path, re_path

from courant.routing import URLRouter


async def app_a(scope, receive, send):
    pass


async def app_b(scope, receive, send):
    pass


ROUTER = URLRouter(
    [
        path("ws/room/<slug:room>/", app_a),
        re_path(r"^ws/item/(\d+)/$", app_b),
        path("ws/v2/", include([path("doc/<int:pk>/", app_b, {"version": 2})])),
    ]
)


def test_named_captures_become_kwargs():
    assert ROUTER.resolve("/ws/room/lobby/") == (app_a, {"args": (), "kwargs": {"room": "lobby"}})


def test_unnamed_groups_become_args():
    assert ROUTER.resolve("/ws/item/42/") == (app_b, {"args": ("42",), "kwargs": {}})


def test_include_and_extra_kwargs_work_as_in_urls_py():
    assert ROUTER.resolve("/ws/v2/doc/7/") == (
        app_b,
        {"args": (), "kwargs": {"pk": 7, "version": 2}},
    )


def test_unknown_paths_resolve_to_nothing():
    for path_ in ("/ws/room/", "/ws/room/not a slug/", "/ws/item/x/", "/", "/ws/room/lobby/extra/"):
        assert ROUTER.resolve(path_) is None


def test_routes_must_be_django_patterns():
    import pytest

    with pytest.raises(TypeError, match=r"path\(\), re_path\(\) or include\(\)"):
        URLRouter([("ws/", app_a)])  # type: ignore[list-item]

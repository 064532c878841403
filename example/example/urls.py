from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from demo import views as demo_views

urlpatterns = [
    path("", demo_views.home, name="home"),
    path("", include("demo.urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("blog/", include("blog.urls")),
    path("chat/", include("chat.urls")),
    path("board/", include("board.urls")),
    path("admin/", admin.site.urls),
]

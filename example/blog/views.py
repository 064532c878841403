"""The blog's pages: the reader's page, server-rendered and then kept live by courant.js
(blog.js, fed by PostBinding on ``blog:posts``), and the editor's pages, plain Django
forms with no JavaScript: saving is enough for every reader to see the change."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import user_passes_test
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from .forms import PostForm
from .models import Post
from .topics import LATEST, PostBinding


def index(request: HttpRequest) -> HttpResponse:
    """Server-rendered, so the posts show at once (and without JavaScript); the rows go
    into the page too, as the first state of its synced list."""
    posts = list(Post.objects.published().select_related("author")[:LATEST])
    return render(request, "blog/index.html", {"posts": posts, "rows": PostBinding().rows(posts)})


# Staff only; anyone else is sent to the login page (the admin's decorator would send them
# to the admin's own).
staff_required = user_passes_test(lambda user: user.is_staff)


@staff_required
def editor(request: HttpRequest) -> HttpResponse:
    posts = Post.objects.select_related("author")
    return render(request, "blog/editor.html", {"posts": posts})


@staff_required
def create(request: HttpRequest) -> HttpResponse:
    return _post_form(request, None)


@staff_required
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _post_form(request, get_object_or_404(Post, pk=pk))


def _post_form(request: HttpRequest, post: Post | None) -> HttpResponse:
    """The editor's form for a new post (``post`` is None) or an existing one."""
    form = PostForm(request.POST or None, instance=post)
    if request.method == "POST" and form.is_valid():
        if post is None:
            form.instance.author = request.user
        saved = form.save()
        messages.success(request, f"“{saved.title}” saved: readers see it now.")
        return redirect("blog:editor")
    return render(request, "blog/form.html", {"form": form, "post": post})


@staff_required
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """A confirmation page; the POST from it deletes."""
    post = get_object_or_404(Post, pk=pk)
    if request.method == "POST":
        post.delete()
        messages.success(request, f"“{post.title}” deleted: it is gone from readers' pages.")
        return redirect("blog:editor")
    return render(request, "blog/delete.html", {"post": post})

from django import forms

from .models import Post


class PostForm(forms.ModelForm):  # type: ignore[type-arg]
    """The editor page's form: the author is whoever writes the post."""

    class Meta:
        model = Post
        fields = ["title", "body", "published"]
        widgets = {"title": forms.TextInput(attrs={"autofocus": True})}

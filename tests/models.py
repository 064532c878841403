"""Models that exist only for tests."""

from __future__ import annotations

import decimal
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Gadget(models.Model):
    """A model with a field of each kind a binding must make JSON-safe."""

    name = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=decimal.Decimal("0"))
    serial = models.UUIDField(default=uuid.uuid4)
    made = models.DateTimeField(default=timezone.now)
    maker = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    secret = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return self.name

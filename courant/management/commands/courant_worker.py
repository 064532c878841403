"""``manage.py courant_worker CHANNEL...``: run the workers of channels until stopped."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from ...channels import Worker, validate_channel
from ...conf import get_settings
from ...exceptions import InvalidChannel
from ...hub import get_hub


class Command(BaseCommand):
    help = (
        "Receive and handle the messages of the named channels with the workers "
        "COURANT['WORKERS'] maps them to, until SIGINT or SIGTERM."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("channels", nargs="+", metavar="CHANNEL")

    def handle(self, *args: Any, **options: Any) -> None:
        configured = dict(get_settings().workers)
        workers: list[Worker] = []
        for channel in options["channels"]:
            try:
                validate_channel(channel)
            except InvalidChannel as exc:
                raise CommandError(str(exc)) from exc
            if channel not in configured:
                known = ", ".join(sorted(configured)) or "none"
                raise CommandError(
                    f"No worker for channel {channel!r} in COURANT['WORKERS'] (it names: {known})."
                )
            try:
                worker_class = import_string(configured[channel])
            except ImportError as exc:
                raise CommandError(f"COURANT['WORKERS'][{channel!r}]: {exc}") from exc
            if not (isinstance(worker_class, type) and issubclass(worker_class, Worker)):
                raise CommandError(
                    f"COURANT['WORKERS'][{channel!r}] = {configured[channel]!r} "
                    "is not a courant.Worker subclass."
                )
            workers.append(worker_class(channel))
        asyncio.run(self._serve(workers))

    async def _serve(self, workers: list[Worker]) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        engine = get_hub().engine
        if engine.name == "memory":
            self.stderr.write(
                "The memory engine reaches this process only: nothing sent from another "
                "process will arrive. Set COURANT['ENGINE'] to a Redis URL."
            )
        names = ", ".join(worker.channel for worker in workers)
        self.stdout.write(f"Courant worker on {engine.name}: handling channel(s) {names}")
        self.stdout.flush()
        try:
            await asyncio.gather(*(worker.run(stop) for worker in workers))
        finally:
            await engine.close()
        self.stdout.write("Courant worker stopped.")

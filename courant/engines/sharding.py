"""Consistent hashing: which server holds a topic (or a channel).

Each server owns many points ("virtual nodes") on a ring of 64-bit hashes; a name belongs
to the server owning the first point at or after the name's hash. Adding a server to N
takes over about 1/(N+1) of the names and moves no other name, so most topics keep their
history and ordering on the server they were on. Points are placed by each server's *key*
(its address), not by its place in the list, so reordering the list moves nothing.

No I/O here.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

#: Points per server: enough for an even spread over a handful of servers.
VIRTUAL_NODES = 160


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class HashRing(Generic[T]):
    """Maps names to one of ``nodes``, each given as a ``(key, node)`` pair."""

    def __init__(self, nodes: Sequence[tuple[str, T]], virtual_nodes: int = VIRTUAL_NODES) -> None:
        if not nodes:
            raise ValueError("a hash ring needs at least one node")
        keys = [key for key, _ in nodes]
        if len(set(keys)) != len(keys):
            raise ValueError(f"the same server is listed twice: {sorted(keys)}")
        points = sorted(
            (_hash(f"{key}#{index}"), position)
            for position, (key, _) in enumerate(nodes)
            for index in range(virtual_nodes)
        )
        self._hashes = [point for point, _ in points]
        self._owners = [nodes[position][1] for _, position in points]
        self._single = nodes[0][1] if len(nodes) == 1 else None

    def node_for(self, name: str) -> T:
        """The node that holds ``name``."""
        if self._single is not None:
            return self._single
        index = bisect.bisect_left(self._hashes, _hash(name))
        return self._owners[index % len(self._owners)]


__all__ = ["VIRTUAL_NODES", "HashRing"]

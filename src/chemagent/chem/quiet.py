"""Mute RDKit's C++ log for one block of code, never globally."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rdkit import rdBase


@contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit warnings and errors inside the ``with`` block (thread-safe RAII blocker)."""
    blocker = rdBase.BlockLogs()
    try:
        yield
    finally:
        del blocker

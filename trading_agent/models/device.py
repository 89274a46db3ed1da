"""Device choice and honest timing on accelerators.

CUDA kernels run asynchronously: a timed call must wait for them (:func:`synchronize`) or it
measures only the launch. Every benchmark records which device and torch build ran it
(:func:`device_info`), so a report never compares a GPU number with a CPU one unknowingly.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is CUDA when available, else CPU; ``"cpu"``, ``"cuda"`` and ``"cuda:N"`` are
    taken as asked, and asking for CUDA where there is none is a :class:`ValueError`."""
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise ValueError(f"device must be one of {DEVICE_CHOICES} (or 'cuda:N'), got {device!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for but CUDA is not available here "
                             f"(torch {torch.__version__}); use device='auto' or 'cpu'")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
        return dev
    raise ValueError(f"device must be one of {DEVICE_CHOICES} (or 'cuda:N'), got {device!r}")


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on ``device`` (no-op on CPU), so a timed call includes them."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_info(device: torch.device, **extra: Any) -> dict[str, Any]:
    """The small JSON-able dict a benchmark records: device, torch build, CPU threads (+ extra)."""
    info: dict[str, Any] = {"device": device.type, "torch": torch.__version__,
                            "threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    info.update(extra)
    return info


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's CPU generator seeded, restoring the caller's state after, so
    building a model with a seed does not disturb anyone else's random stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield

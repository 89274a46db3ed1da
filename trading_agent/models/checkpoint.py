"""Save and load the models, in three formats:

- ``state_dict``: ``torch.save`` of {format_version, kind, config, state_dict}; loading rebuilds
  the Python module from the stored config (``weights_only=True``: no pickled code runs);
- ``torchscript``: ``torch.jit.script`` + ``save``; loads without the Python class (deprecated
  in torch 2.13, which warns on script and load; kept as a format to compare);
- ``export``: ``torch.export`` (.pt2) with a dynamic batch axis; loads without the Python class.
  An exported program keeps the device it was exported on, so export on the serving device.

Every loaded model is in eval mode and maps ``x`` to the same outputs as the saved one.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from trading_agent.models.cnn_lstm import CNNLSTM, CNNLSTMConfig
from trading_agent.models.rl_agent import ActorCritic, ActorCriticConfig

# 1: {format_version, kind, config, state_dict}
CHECKPOINT_VERSION = 1
FORMATS = ("state_dict", "torchscript", "export")
_KINDS: dict[str, tuple[type[nn.Module], Any]] = {
    "cnn_lstm": (CNNLSTM, CNNLSTMConfig),
    "actor_critic": (ActorCritic, ActorCriticConfig),
}


def _kind_of(model: nn.Module) -> str:
    for kind, (cls, _) in _KINDS.items():
        if isinstance(model, cls):
            return kind
    raise ValueError(f"cannot checkpoint a {type(model).__name__}; known kinds: {sorted(_KINDS)}")


def save_state_dict(model: nn.Module, path: str | Path) -> Path:
    """Weights + architecture config, CPU tensors (a file loads on any device)."""
    kind = _kind_of(model)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"format_version": CHECKPOINT_VERSION, "kind": kind,
                "config": model.config.to_dict(), "state_dict": state}, path)  # type: ignore[operator]
    return Path(path)


def load_state_dict(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild the model a :func:`save_state_dict` file describes, on ``device``, eval mode."""
    blob = torch.load(path, map_location=device, weights_only=True)
    if not isinstance(blob, dict) or blob.get("format_version") != CHECKPOINT_VERSION:
        found = blob.get("format_version") if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(f"{path}: not a version-{CHECKPOINT_VERSION} model checkpoint (found {found!r})")
    kind = blob.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"{path}: unknown model kind {kind!r}; expected one of {sorted(_KINDS)}")
    cls, config_cls = _KINDS[kind]
    with torch.device("meta"):  # no wasted random init: the weights come from the file
        model = cls(config_cls.from_dict(blob["config"]))
    model.load_state_dict(blob["state_dict"], assign=True)
    # .to() also re-flattens LSTM weights into one buffer, which cuDNN wants (no-op on CPU).
    return model.to(device).eval()


def save_torchscript(model: nn.Module, path: str | Path) -> Path:
    torch.jit.script(model.eval()).save(str(path))
    return Path(path)


def load_torchscript(path: str | Path, device: torch.device | str = "cpu") -> torch.jit.ScriptModule:
    return torch.jit.load(str(path), map_location=device).eval()


def save_exported(model: nn.Module, path: str | Path, example: Tensor) -> Path:
    """``torch.export`` with the batch axis dynamic (1..65,536); ``example`` needs batch >= 2,
    since export specialises a size-1 axis to a constant."""
    if Path(path).suffix != ".pt2":
        raise ValueError(f"torch.export files must end in .pt2, got {str(path)!r}")
    if example.shape[0] < 2:
        raise ValueError(f"export example must have batch >= 2, got shape {tuple(example.shape)}")
    batch = torch.export.Dim("batch", min=1, max=65_536)
    with warnings.catch_warnings():
        # nn.LSTM re-assigns its flat weights while traced; harmless here, and noisy.
        warnings.filterwarnings("ignore", message=".*_flat_weights.*")
        program = torch.export.export(model.eval(), (example,), dynamic_shapes={"x" if isinstance(
            model, CNNLSTM) else "obs": {0: batch}})
    torch.export.save(program, str(path))
    return Path(path)


def load_exported(path: str | Path) -> Callable[[Tensor], Any]:
    """The exported module, on the device it was exported on."""
    # Exported in eval mode, so dropout is already off in the graph (and .eval() is refused).
    return torch.export.load(str(path)).module()


def save_model(model: nn.Module, path: str | Path, fmt: str = "state_dict", *,
               example: Tensor | None = None) -> Path:
    """Save in one of :data:`FORMATS`; ``export`` needs an ``example`` input."""
    if fmt == "state_dict":
        return save_state_dict(model, path)
    if fmt == "torchscript":
        return save_torchscript(model, path)
    if fmt == "export":
        if example is None:
            raise ValueError("format 'export' needs an example input (batch >= 2)")
        return save_exported(model, path, example)
    raise ValueError(f"unknown model format {fmt!r}; expected one of {FORMATS}")


def load_model(path: str | Path, fmt: str = "state_dict",
               device: torch.device | str = "cpu") -> Callable[[Tensor], Any]:
    """Load a :func:`save_model` file; callable on inputs on ``device`` (for ``export``: the
    device it was exported on)."""
    if fmt == "state_dict":
        return load_state_dict(path, device)
    if fmt == "torchscript":
        return load_torchscript(path, device)
    if fmt == "export":
        return load_exported(path)
    raise ValueError(f"unknown model format {fmt!r}; expected one of {FORMATS}")

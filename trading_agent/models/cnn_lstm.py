"""CNN+LSTM price model: 1-D convolutions over time extract local patterns from the feature
window, a 2-layer LSTM summarises the sequence, and a small head predicts the next-day return
and the direction (down/up) logits.

Shapes: input (batch, window=60, features=15) float32, standardised features, oldest day first;
output ``(next_return (batch,), direction_logits (batch, 2))``. ``forward`` returns a plain tuple
so the model scripts and exports (``torch.export`` cannot serialise a NamedTuple output);
:func:`predict` wraps it in :class:`PricePrediction`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trading_agent.models.device import seeded
from trading_agent.models.shapes import N_FEATURES, WINDOW


@dataclass(frozen=True)
class CNNLSTMConfig:
    """Architecture of :class:`CNNLSTM`; stored in checkpoints so a file rebuilds its model."""

    window: int = WINDOW  # days per input window
    n_features: int = N_FEATURES
    conv_channels: tuple[int, ...] = (32, 32)
    kernel_size: int = 3  # odd, so 'same' padding keeps the window length
    lstm_hidden: int = 64
    lstm_layers: int = 2
    head_hidden: int = 32
    dropout: float = 0.1
    n_directions: int = 2  # down / up

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_channels", tuple(int(c) for c in self.conv_channels))
        for name in ("window", "n_features", "lstm_hidden", "lstm_layers", "head_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"CNNLSTMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.conv_channels or min(self.conv_channels) < 1:
            raise ValueError(f"CNNLSTMConfig.conv_channels must be non-empty positive ints, "
                             f"got {self.conv_channels}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"CNNLSTMConfig.kernel_size must be odd and >= 1, got {self.kernel_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"CNNLSTMConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.n_directions < 2:
            raise ValueError(f"CNNLSTMConfig.n_directions must be >= 2, got {self.n_directions}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["conv_channels"] = list(self.conv_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CNNLSTMConfig:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown CNNLSTMConfig keys {sorted(unknown)}")
        return cls(**d)


class CNNLSTM(nn.Module):
    """Conv1d stack -> LSTM -> MLP head on the last time step. See the module docstring."""

    def __init__(self, config: CNNLSTMConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        in_ch = config.n_features
        for out_ch in config.conv_channels:
            layers += [nn.Conv1d(in_ch, out_ch, config.kernel_size, padding=config.kernel_size // 2),
                       nn.ReLU(), nn.Dropout(config.dropout)]
            in_ch = out_ch
        self.conv = nn.Sequential(*layers)
        self.lstm = nn.LSTM(in_ch, config.lstm_hidden, num_layers=config.lstm_layers, batch_first=True,
                            dropout=config.dropout if config.lstm_layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Linear(config.lstm_hidden, config.head_hidden), nn.ReLU(),
                                  nn.Linear(config.head_hidden, 1 + config.n_directions))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (batch, window, features) -> (next_return (batch,), direction_logits (batch, n_dir))."""
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)  # Conv1d wants (batch, channels, time)
        seq, _ = self.lstm(h)
        out = self.head(seq[:, -1])
        return out[:, 0], out[:, 1:]


def build_cnn_lstm(config: CNNLSTMConfig | None = None, *, seed: int = 0) -> CNNLSTM:
    """A freshly initialised model on CPU; the same seed gives the same weights."""
    with seeded(seed):
        return CNNLSTM(config or CNNLSTMConfig())


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def check_window(x: Tensor, config: CNNLSTMConfig) -> None:
    """Refuse an input that is not (batch, window, n_features) for this model, naming its shape."""
    if x.dim() != 3 or x.shape[1] != config.window or x.shape[2] != config.n_features or x.shape[0] < 1:
        raise ValueError(f"input must be (batch, {config.window}, {config.n_features}), got "
                         f"{tuple(x.shape)}")


@dataclass(frozen=True)
class PricePrediction:
    """next_return: (batch,) in units of the return's std; direction_logits: (batch, n_dir)."""

    next_return: Tensor
    direction_logits: Tensor

    @property
    def p_up(self) -> Tensor:
        """(batch,) probability that the next return is positive (last direction class)."""
        return self.direction_logits.softmax(dim=-1)[:, -1]

    def cpu(self) -> PricePrediction:
        return PricePrediction(self.next_return.cpu(), self.direction_logits.cpu())


def predict(model: CNNLSTM, x: Tensor) -> PricePrediction:
    """Inference without autograd (``inference_mode``), in eval mode; x on the model's device."""
    check_window(x, model.config)
    if model.training:
        model.eval()
    with torch.inference_mode():
        ret, logits = model(x)
    return PricePrediction(ret, logits)


def price_loss(next_return: Tensor, direction_logits: Tensor, target_return: Tensor,
               target_direction: Tensor, *, direction_weight: float = 1.0) -> Tensor:
    """Scalar loss: MSE on the standardised return + ``direction_weight`` x cross-entropy."""
    return (F.mse_loss(next_return, target_return)
            + direction_weight * F.cross_entropy(direction_logits, target_direction))

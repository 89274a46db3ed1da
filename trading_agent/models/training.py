"""One optimiser step for each model: forward, loss, backward, gradient clipping, Adam step.

A step returns its loss as a Python float, which waits for the device: the usual training loop
logs it, and it makes a timed step include all of its GPU work.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from trading_agent.models.cnn_lstm import CNNLSTM, check_window, price_loss
from trading_agent.models.features import WindowDataset
from trading_agent.models.rl_agent import ActorCritic, PPOLoss, RolloutBatch, ppo_loss


@dataclass(frozen=True)
class SupervisedBatch:
    """x (n, window, features) float32; next_return (n,) float32; direction (n,) int64."""

    x: Tensor
    next_return: Tensor
    direction: Tensor

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        if tuple(self.next_return.shape) != (n,) or tuple(self.direction.shape) != (n,):
            raise ValueError(f"targets must be ({n},), got next_return {tuple(self.next_return.shape)} "
                             f"and direction {tuple(self.direction.shape)}")

    def __len__(self) -> int:
        return int(self.x.shape[0])


def to_batch(data: WindowDataset, rows: np.ndarray | slice | None = None,
             device: torch.device | str = "cpu") -> SupervisedBatch:
    """Rows of a dataset (all by default) as tensors on ``device``."""
    sel = slice(None) if rows is None else rows
    return SupervisedBatch(torch.as_tensor(data.x[sel]).to(device),
                           torch.as_tensor(data.next_return[sel]).to(device),
                           torch.as_tensor(data.direction[sel]).to(device))


def batches(data: WindowDataset, batch_size: int, n_batches: int, *, seed: int = 0,
            device: torch.device | str = "cpu") -> list[SupervisedBatch]:
    """``n_batches`` seeded random minibatches of ``batch_size`` rows (with replacement across
    batches, without within one), already on ``device``."""
    if batch_size < 1 or n_batches < 1:
        raise ValueError(f"batch_size and n_batches must be >= 1, got {batch_size} and {n_batches}")
    rng = np.random.default_rng(seed)
    replace = batch_size > len(data)
    return [to_batch(data, np.sort(rng.choice(len(data), batch_size, replace=replace)), device)
            for _ in range(n_batches)]


def make_optimizer(model: nn.Module, *, lr: float = 1e-3) -> torch.optim.Adam:
    if not lr > 0:
        raise ValueError(f"learning rate must be > 0, got {lr}")
    return torch.optim.Adam(model.parameters(), lr=lr)


def cnn_lstm_step(model: CNNLSTM, optimizer: torch.optim.Optimizer, batch: SupervisedBatch,
                  *, max_grad_norm: float = 1.0, direction_weight: float = 1.0) -> float:
    """One supervised step in train mode (dropout on); returns the batch loss before the step."""
    check_window(batch.x, model.config)
    model.train()
    optimizer.zero_grad(set_to_none=True)
    ret, logits = model(batch.x)
    loss = price_loss(ret, logits, batch.next_return, batch.direction, direction_weight=direction_weight)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    return float(loss.detach())


def evaluate_cnn_lstm(model: CNNLSTM, batch: SupervisedBatch) -> float:
    """Loss on a batch in eval mode, without autograd."""
    check_window(batch.x, model.config)
    model.eval()
    with torch.inference_mode():
        ret, logits = model(batch.x)
        return float(price_loss(ret, logits, batch.next_return, batch.direction))


def ppo_step(policy: ActorCritic, optimizer: torch.optim.Optimizer, batch: RolloutBatch,
             *, max_grad_norm: float = 0.5, clip: float = 0.2) -> PPOLoss:
    """One PPO minibatch step (clipped surrogate + value + entropy), gradient-norm clipped."""
    policy.check_obs(batch.obs)
    policy.train()
    optimizer.zero_grad(set_to_none=True)
    loss = ppo_loss(policy, batch, clip=clip)
    loss.total.backward()
    nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
    optimizer.step()
    return loss

"""PPO-style actor-critic policy for the trading agent.

Observation: 64 float32 features = 60 market features (the last 60 standardised daily returns)
+ 4 position-state features (position in {-1, 0, 1}, unrealised P&L in units of daily vol,
cash fraction in [0, 1], holding time in units of 20 days). Actions are discrete:
0 = sell, 1 = hold, 2 = buy (:data:`ACTIONS`).

The actor and critic are separate tanh MLPs (the PPO default: the value loss does not pull on
the policy's features), with orthogonal initialisation; the policy head starts near uniform.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from trading_agent.models.device import seeded

ACTIONS: tuple[str, ...] = ("sell", "hold", "buy")
MARKET_FEATURES = 60
POSITION_FEATURES = 4
OBS_DIM = MARKET_FEATURES + POSITION_FEATURES  # 64


@dataclass(frozen=True)
class ActorCriticConfig:
    obs_dim: int = OBS_DIM
    hidden: tuple[int, ...] = (128, 128)
    n_actions: int = len(ACTIONS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.obs_dim < 1:
            raise ValueError(f"ActorCriticConfig.obs_dim must be >= 1, got {self.obs_dim}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"ActorCriticConfig.hidden must be non-empty positive ints, got {self.hidden}")
        if self.n_actions < 2:
            raise ValueError(f"ActorCriticConfig.n_actions must be >= 2, got {self.n_actions}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActorCriticConfig:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown ActorCriticConfig keys {sorted(unknown)}")
        return cls(**d)


def _mlp(sizes: list[int], out_gain: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b)
        last = i == len(sizes) - 2
        nn.init.orthogonal_(lin.weight, gain=out_gain if last else float(np.sqrt(2)))
        nn.init.zeros_(lin.bias)
        layers.append(lin)
        if not last:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class AgentAction:
    """One decision per observation row: action (batch,) int64 index into :data:`ACTIONS`,
    log_prob (batch,) of that action under the policy, value (batch,) the critic's estimate."""

    action: Tensor
    log_prob: Tensor
    value: Tensor


class ActorCritic(nn.Module):
    def __init__(self, config: ActorCriticConfig) -> None:
        super().__init__()
        self.config = config
        sizes = [config.obs_dim, *config.hidden]
        self.actor = _mlp([*sizes, config.n_actions], out_gain=0.01)
        self.critic = _mlp([*sizes, 1], out_gain=1.0)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """obs (batch, obs_dim) -> (action logits (batch, n_actions), value (batch,))."""
        return self.actor(obs), self.critic(obs).squeeze(-1)

    def check_obs(self, obs: Tensor) -> None:
        if obs.dim() != 2 or obs.shape[1] != self.config.obs_dim or obs.shape[0] < 1:
            raise ValueError(f"observation must be (batch, {self.config.obs_dim}), got {tuple(obs.shape)}")

    def act(self, obs: Tensor, *, generator: torch.Generator | None = None,
            deterministic: bool = False) -> AgentAction:
        """Sample (or take the most likely, ``deterministic``) action without autograd. A seeded
        ``generator`` on the observation's device makes the samples reproducible."""
        self.check_obs(obs)
        with torch.inference_mode():
            logits, value = self(obs)
            log_probs = logits.log_softmax(dim=-1)
            if deterministic:
                action = log_probs.argmax(dim=-1)
            else:
                action = torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(-1)
            return AgentAction(action, log_probs.gather(-1, action[:, None]).squeeze(-1), value)

    def evaluate(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """With autograd, for the PPO loss: (log_prob (batch,), entropy (batch,), value (batch,))."""
        logits, value = self(obs)
        log_probs = logits.log_softmax(dim=-1)
        entropy = -(log_probs.exp() * log_probs).sum(dim=-1)
        return log_probs.gather(-1, actions[:, None]).squeeze(-1), entropy, value


def build_actor_critic(config: ActorCriticConfig | None = None, *, seed: int = 0) -> ActorCritic:
    """A freshly initialised policy on CPU; the same seed gives the same weights."""
    with seeded(seed):
        return ActorCritic(config or ActorCriticConfig())


def synthetic_observations(n: int, *, obs_dim: int = OBS_DIM, seed: int = 0) -> np.ndarray:
    """(n, obs_dim) float32 observations laid out as in the module docstring (the first
    ``obs_dim - 4`` columns are market features, the last 4 position state)."""
    if n < 1 or obs_dim <= POSITION_FEATURES:
        raise ValueError(f"need n >= 1 and obs_dim > {POSITION_FEATURES}, got n={n}, obs_dim={obs_dim}")
    rng = np.random.default_rng(seed)
    market = rng.standard_t(df=4, size=(n, obs_dim - POSITION_FEATURES)) / np.sqrt(2.0)  # fat tails, unit var
    position = rng.integers(-1, 2, size=n).astype(float)
    pnl = position * rng.normal(0.0, 1.5, size=n)
    cash = np.where(position == 0, 1.0, rng.uniform(0.0, 0.5, size=n))
    held = np.where(position == 0, 0.0, rng.exponential(0.5, size=n))
    return np.column_stack([market, position, pnl, cash, held]).astype(np.float32)


@dataclass(frozen=True)
class RolloutBatch:
    """Transitions for one PPO update, all (n,) except obs (n, obs_dim)."""

    obs: Tensor
    actions: Tensor  # int64
    old_log_probs: Tensor
    advantages: Tensor
    returns: Tensor

    def __post_init__(self) -> None:
        n = self.obs.shape[0]
        for name in ("actions", "old_log_probs", "advantages", "returns"):
            if tuple(getattr(self, name).shape) != (n,):
                raise ValueError(f"RolloutBatch.{name} must be ({n},), got {tuple(getattr(self, name).shape)}")

    def _tensors(self) -> tuple[Tensor, ...]:
        return self.obs, self.actions, self.old_log_probs, self.advantages, self.returns

    def to(self, device: torch.device) -> RolloutBatch:
        return RolloutBatch(*(t.to(device) for t in self._tensors()))

    def rows(self, start: int, stop: int) -> RolloutBatch:
        """Transitions ``start:stop`` (a minibatch), as views."""
        return RolloutBatch(*(t[start:stop] for t in self._tensors()))


def gae(rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, last_value: float,
        *, gamma: float = 0.99, lam: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation over one trajectory of T steps (arrays (T,); ``dones[t]``
    true when the episode ended after step t). Returns (advantages, returns), both (T,)."""
    t_len = len(rewards)
    if values.shape != (t_len,) or dones.shape != (t_len,):
        raise ValueError(f"rewards, values and dones must all be ({t_len},), got {values.shape} "
                         f"and {dones.shape}")
    adv = np.zeros(t_len)
    next_value, running = last_value, 0.0
    for t in range(t_len - 1, -1, -1):
        alive = 0.0 if dones[t] else 1.0
        delta = rewards[t] + gamma * next_value * alive - values[t]
        running = delta + gamma * lam * alive * running
        adv[t] = running
        next_value = values[t]
    return adv, adv + values


def synthetic_rollout(policy: ActorCritic, n: int, *, seed: int = 0, episode_len: int = 256) -> RolloutBatch:
    """A seeded rollout of ``n`` steps on CPU: the policy acts on synthetic observations and
    earns position x next return, where the next return leans on the latest market feature
    (a weak, learnable edge); advantages by :func:`gae`, normalised to zero mean, unit std."""
    obs = torch.from_numpy(synthetic_observations(n, obs_dim=policy.config.obs_dim, seed=seed))
    gen = torch.Generator().manual_seed(seed)
    step = policy.act(obs, generator=gen)
    rng = np.random.default_rng(seed + 1)
    next_ret = 0.2 * obs[:, policy.config.obs_dim - POSITION_FEATURES - 1].numpy() + rng.standard_normal(n)
    rewards = (step.action.numpy() - 1.0) * next_ret * 0.01  # daily P&L as a fraction of capital
    dones = (np.arange(1, n + 1) % episode_len) == 0
    adv, ret = gae(rewards, step.value.numpy().astype(float), dones, last_value=0.0)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    return RolloutBatch(obs, step.action.clone(), step.log_prob.clone(),
                        torch.from_numpy(adv).float(), torch.from_numpy(ret).float())


@dataclass(frozen=True)
class PPOLoss:
    """total is what backward() runs on; the parts are detached floats for logging."""

    total: Tensor
    policy: float
    value: float
    entropy: float
    approx_kl: float


def ppo_loss(policy: ActorCritic, batch: RolloutBatch, *, clip: float = 0.2, vf_coef: float = 0.5,
             ent_coef: float = 0.01) -> PPOLoss:
    """The clipped surrogate objective of PPO (Schulman et al. 2017) + value MSE - entropy bonus."""
    if not 0.0 < clip < 1.0:
        raise ValueError(f"clip must be in (0, 1), got {clip}")
    log_prob, entropy, value = policy.evaluate(batch.obs, batch.actions)
    log_ratio = log_prob - batch.old_log_probs
    ratio = log_ratio.exp()
    surrogate = torch.min(ratio * batch.advantages, ratio.clamp(1 - clip, 1 + clip) * batch.advantages)
    policy_loss = -surrogate.mean()
    value_loss = (value - batch.returns).pow(2).mean()
    ent = entropy.mean()
    total = policy_loss + vf_coef * value_loss - ent_coef * ent
    approx_kl = ((ratio - 1) - log_ratio).mean()  # the low-variance k3 estimator
    # One host sync for the four logging values (not one per .item()).
    parts = torch.stack([policy_loss, value_loss, ent, approx_kl]).detach().cpu().tolist()
    return PPOLoss(total, *parts)

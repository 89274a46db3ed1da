"""Trading recommendations: the CNN+LSTM price model and the PPO agent's action for a symbol's
current feature window.

Feature window: 60 days x the 15 daily features of :func:`trading_agent.models.features.ohlcv_features`.
The first 59 days come from a seeded daily OHLCV history per symbol
(:func:`trading_agent.data_pipeline.bars.synthetic_bars`, rescaled so its last close is the
symbol's opening live price and its mean volume the live session volume at start); the 60th day is
*today*, built from the live session (open, high, low, last, volume). Features are standardised
with each symbol's history statistics. Today's row is recomputed when the symbol's current
one-second bar changes (features at bar granularity, like a system that computes on bar close),
so a burst of requests on one symbol does not rerun pandas; the models run on every request.

The agent's observation is the window's last 60 standardised daily returns plus a flat
position state (position 0, unrealised P&L 0, cash fraction 1, holding time 0), and its action
is the policy's most likely one.

Models are loaded once per worker, in eval mode, on CPU; ``forward`` is safe from several
threads at once under ``inference_mode`` (no state is written).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from trading_agent.data_pipeline.bars import synthetic_bars
from trading_agent.models.checkpoint import load_model
from trading_agent.models.cnn_lstm import CNNLSTM, build_cnn_lstm, count_parameters, predict
from trading_agent.models.features import ohlcv_features
from trading_agent.models.rl_agent import ACTIONS, MARKET_FEATURES, ActorCritic, build_actor_critic
from trading_agent.models.shapes import N_FEATURES, WINDOW
from trading_agent.service.market import LiveState
from trading_agent.service.schemas import AgentActionOut, PricePredictionOut, RecommendationOut

log = logging.getLogger(__name__)

HISTORY_DAYS = 250  # enough for the 60-day window plus the 60 days its rolling features need
TAIL_DAYS = 64  # history rows needed to compute today's row (vol_60d needs 61 closes)
_FLAT_POSITION = np.array([0.0, 0.0, 1.0, 0.0], dtype=np.float32)
_OHLCV = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]


@dataclass(frozen=True, eq=False)
class _SymbolHistory:
    raw_tail: pd.DataFrame  # the last TAIL_DAYS history days, in ohlcv_features' column names
    z_days: np.ndarray  # (WINDOW - 1, N_FEATURES) standardised features of the last history days
    mean: np.ndarray  # (N_FEATURES,)
    std: np.ndarray  # (N_FEATURES,), zeros replaced by 1


class FeatureWindows:
    """Per-symbol feature windows (see the module docstring)."""

    def __init__(self, histories: dict[str, _SymbolHistory]) -> None:
        self._hist = histories
        self._cache: dict[str, tuple[int, np.ndarray]] = {}  # symbol -> (bar start, window)

    @classmethod
    def seeded(cls, symbols: Sequence[str], live: Mapping[str, LiveState], seed: int) -> FeatureWindows:
        bars = synthetic_bars(len(symbols) * HISTORY_DAYS, len(symbols), seed, bar_s=23_400)  # 1 bar = 1 day
        histories = {}
        for sym, g in bars.groupby("symbol", sort=True):
            if sym not in live:
                continue
            now = live[sym]
            px = now.day_open / float(g["close"].iloc[-1])
            vol = max(now.volume, 1) / float(g["volume"].mean())
            raw = pd.DataFrame({"Open": g["open"].to_numpy() * px, "High": g["high"].to_numpy() * px,
                                "Low": g["low"].to_numpy() * px, "Close": g["close"].to_numpy() * px,
                                "Adj Close": g["close"].to_numpy() * px,
                                "Volume": np.maximum(np.round(g["volume"].to_numpy() * vol), 1.0)})
            feats = ohlcv_features(raw).to_numpy(dtype=np.float64)
            ok = np.isfinite(feats).all(axis=1)
            mean, std = feats[ok].mean(axis=0), feats[ok].std(axis=0)
            std = np.where(std > 0, std, 1.0)
            z = np.nan_to_num((feats[-(WINDOW - 1):] - mean) / std).astype(np.float32)
            histories[sym] = _SymbolHistory(raw.tail(TAIL_DAYS).reset_index(drop=True), z, mean, std)
        missing = sorted(set(symbols) - set(histories))
        if missing:
            raise ValueError(f"no daily history for symbols {missing[:5]} (of {len(missing)}); "
                             f"history covers {sorted(histories)[:3]}...")
        return cls(histories)

    def window(self, live: LiveState) -> np.ndarray:
        """(WINDOW, N_FEATURES) float32 standardised features ending with today's live row."""
        hit = self._cache.get(live.symbol)
        if hit is not None and hit[0] == live.bar_start_ns:
            return hit[1]
        h = self._hist[live.symbol]
        today = pd.DataFrame([[live.day_open, live.day_high, live.day_low, live.last, live.last, float(live.volume)]],
                             columns=_OHLCV)
        row = ohlcv_features(pd.concat([h.raw_tail, today], ignore_index=True)).to_numpy(dtype=np.float64)[-1]
        z = np.nan_to_num((row - h.mean) / h.std).astype(np.float32)
        win = np.vstack([h.z_days, z[None, :]])
        self._cache[live.symbol] = (live.bar_start_ns, win)  # a dict store is atomic: racing threads agree
        return win


def _load_cnn(path: str | None, seed: int) -> CNNLSTM:
    model = build_cnn_lstm(seed=seed) if path is None else load_model(path, "state_dict", "cpu")
    if not isinstance(model, CNNLSTM) or (model.config.window, model.config.n_features) != (WINDOW, N_FEATURES):
        raise ValueError(f"CNN+LSTM checkpoint {path!r} must hold a CNNLSTM over ({WINDOW}, {N_FEATURES}) windows, "
                         f"got {type(model).__name__}")
    return model.eval()


def _load_policy(path: str | None, seed: int) -> ActorCritic:
    model = build_actor_critic(seed=seed) if path is None else load_model(path, "state_dict", "cpu")
    if not isinstance(model, ActorCritic) or model.config.obs_dim != MARKET_FEATURES + len(_FLAT_POSITION):
        raise ValueError(f"policy checkpoint {path!r} must hold an ActorCritic over "
                         f"{MARKET_FEATURES + len(_FLAT_POSITION)} features, got {type(model).__name__}")
    return model.eval()


class Recommender:
    """Feature windows plus both models; :meth:`recommend` is safe to call from many threads."""

    def __init__(self, windows: FeatureWindows, cnn: CNNLSTM, policy: ActorCritic) -> None:
        self.windows = windows
        self.cnn = cnn
        self.policy = policy
        self.info = {"cnn_lstm_parameters": count_parameters(cnn), "policy_parameters": count_parameters(policy),
                     "torch_threads": torch.get_num_threads()}

    @classmethod
    def build(cls, symbols: Sequence[str], live: Mapping[str, LiveState], seed: int, *,
              cnn_lstm_path: str | None = None, policy_path: str | None = None) -> Recommender:
        # One intra-op thread per worker process: batch-1 inference of these small models gains
        # nothing from parallel kernels, while torch's default (one thread per core) in each of
        # N workers, times the concurrent requests of each worker's thread pool, oversubscribes
        # the cores and turns into context switches and tail latency.
        torch.set_num_threads(1)
        rec = cls(FeatureWindows.seeded(symbols, live, seed), _load_cnn(cnn_lstm_path, seed),
                  _load_policy(policy_path, seed))
        rec.recommend(live[symbols[0]])  # warm-up: first calls allocate and pick kernels
        return rec

    def recommend(self, live: LiveState) -> RecommendationOut:
        win = self.windows.window(live)
        x = torch.from_numpy(win).unsqueeze(0)  # (1, WINDOW, N_FEATURES)
        pred = predict(self.cnn, x)
        obs = torch.from_numpy(np.concatenate([win[-MARKET_FEATURES:, 0], _FLAT_POSITION])).unsqueeze(0)
        step = self.policy.act(obs, deterministic=True)
        p_up = float(pred.p_up[0])
        return RecommendationOut(
            symbol=live.symbol, as_of_ns=live.ts_ns, mark=live.last, features_as_of_ns=live.bar_start_ns,
            price_model=PricePredictionOut(next_return_std=float(pred.next_return[0]), p_up=p_up,
                                           direction="up" if p_up >= 0.5 else "down"),
            agent=AgentActionOut(action=ACTIONS[int(step.action[0])], action_prob=float(step.log_prob[0].exp()),
                                 value=float(step.value[0])))

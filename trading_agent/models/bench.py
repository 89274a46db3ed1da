"""Benchmark factories for the models (named in config/benchmarks.yaml, spec §1.3 Model performance).

Each factory sets up untimed (builds the model, makes inputs, warms nothing) and returns an
:class:`~trading_agent.operation.Operation` whose call is the timed work. Inputs start on the
host and results come back to it inside the call, so a GPU time includes the transfers a real
caller pays; on CUDA every call also synchronises before returning. ``info`` names the device,
torch build and thread count that produced the numbers.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import trading_agent
from trading_agent.models.checkpoint import FORMATS, load_model, save_model
from trading_agent.models.cnn_lstm import CNNLSTMConfig, build_cnn_lstm, count_parameters, predict
from trading_agent.models.device import device_info, resolve_device, synchronize
from trading_agent.models.features import WindowDataset, sp500_windows, synthetic_windows
from trading_agent.models.rl_agent import (ActorCriticConfig, build_actor_critic, synthetic_observations,
                                           synthetic_rollout)
from trading_agent.models.training import batches, cnn_lstm_step, make_optimizer, ppo_step
from trading_agent.operation import Operation

SOURCES = ("sp500", "synthetic")
MODELS = ("cnn_lstm", "ppo")
POOL_BATCHES = 16  # distinct input batches cycled through, so calls do not reuse one hot tensor


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _check_batch(batch: int) -> None:
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")


def _windows(source: str, n: int, seed: int) -> WindowDataset:
    """At least the data for ``n`` windows: every S&P 500 window, or ``n`` synthetic ones."""
    _check_choice("source", source, SOURCES)
    return sp500_windows() if source == "sp500" else synthetic_windows(n, seed=seed)


def _host_pool(x: torch.Tensor, batch: int, device: torch.device) -> list[torch.Tensor]:
    """Up to POOL_BATCHES host batches of ``batch`` rows (pinned on CUDA for fast copies)."""
    n = max(1, min(POOL_BATCHES, x.shape[0] // batch))
    pool = [x[i * batch:(i + 1) * batch].contiguous() for i in range(n)]
    if len(pool[0]) < batch:  # fewer rows than one batch: repeat rows
        reps = (batch + x.shape[0] - 1) // x.shape[0]
        pool = [x.repeat(reps, *([1] * (x.dim() - 1)))[:batch].contiguous()]
    return [p.pin_memory() for p in pool] if device.type == "cuda" else pool


def cnn_lstm_inference(batch: int = 1, *, source: str = "sp500", lstm_hidden: int = 64, seed: int = 0,
                       device: str = "auto") -> Operation:
    """One call = predict next return + direction for ``batch`` windows (60 days x 15 features):
    host->device copy, forward in ``inference_mode``, results back on the host."""
    _check_batch(batch)
    dev = resolve_device(device)
    model = build_cnn_lstm(CNNLSTMConfig(lstm_hidden=lstm_hidden), seed=seed).to(dev).eval()
    data = _windows(source, batch * POOL_BATCHES, seed)
    pool = itertools.cycle(_host_pool(torch.from_numpy(data.x), batch, dev))

    def run() -> torch.Tensor:
        pred = predict(model, next(pool).to(dev, non_blocking=True))
        out = pred.next_return.cpu()
        synchronize(dev)
        return out

    return Operation(run, items_per_call=batch, info=device_info(
        dev, model="cnn_lstm", parameters=count_parameters(model), batch=batch, source=source))


def rl_agent_action(batch: int = 1, *, hidden: int = 128, deterministic: bool = False, seed: int = 0,
                    device: str = "auto") -> Operation:
    """One call = the PPO policy picks sell/hold/buy (with log-prob and value) for ``batch``
    observations of 64 features; sampled with a seeded generator unless ``deterministic``."""
    _check_batch(batch)
    dev = resolve_device(device)
    policy = build_actor_critic(ActorCriticConfig(hidden=(hidden, hidden)), seed=seed).to(dev).eval()
    obs = torch.from_numpy(synthetic_observations(batch * POOL_BATCHES, seed=seed))
    pool = itertools.cycle(_host_pool(obs, batch, dev))
    gen = torch.Generator(device=dev).manual_seed(seed)

    def run() -> torch.Tensor:
        step = policy.act(next(pool).to(dev, non_blocking=True), generator=gen, deterministic=deterministic)
        out = torch.stack([step.action.float(), step.log_prob, step.value]).cpu()
        synchronize(dev)
        return out

    return Operation(run, items_per_call=batch, info=device_info(
        dev, model="actor_critic", parameters=count_parameters(policy), batch=batch,
        deterministic=deterministic))


def _cnn_lstm_trainer(batch: int, source: str, lr: float, seed: int,
                     dev: torch.device) -> tuple[Callable[[], float], torch.nn.Module]:
    model = build_cnn_lstm(seed=seed).to(dev)
    opt = make_optimizer(model, lr=lr)
    pool = itertools.cycle(batches(_windows(source, batch * POOL_BATCHES, seed), batch, POOL_BATCHES,
                                   seed=seed, device=dev))
    return (lambda: cnn_lstm_step(model, opt, next(pool))), model


def _ppo_trainer(batch: int, lr: float, seed: int, dev: torch.device) -> tuple[Callable[[], float], torch.nn.Module]:
    policy = build_actor_critic(seed=seed)
    rollout = synthetic_rollout(policy, batch * POOL_BATCHES, seed=seed).to(dev)  # collected on CPU
    policy.to(dev)
    opt = make_optimizer(policy, lr=lr)
    pool = itertools.cycle([rollout.rows(i * batch, (i + 1) * batch) for i in range(POOL_BATCHES)])
    return (lambda: float(ppo_step(policy, opt, next(pool)).total.detach())), policy


def training_step(batch: int = 256, model: str = "cnn_lstm", *, source: str = "sp500", lr: float = 1e-3,
                  seed: int = 0, device: str = "auto") -> Operation:
    """One call = one optimiser step on ``batch`` samples: forward, loss, backward, gradient
    clipping, Adam. ``cnn_lstm``: supervised windows from ``source``; ``ppo``: a minibatch of a
    synthetic rollout (``source`` unused). Data sits on the device already (loading is measured
    elsewhere); the step returns its loss as a float, which waits for the device.

    Seeds torch's global generator, which draws the dropout masks, so the steps are reproducible.
    """
    _check_batch(batch)
    _check_choice("model", model, MODELS)
    dev = resolve_device(device)
    torch.manual_seed(seed)
    if model == "cnn_lstm":
        run, net = _cnn_lstm_trainer(batch, source, lr, seed, dev)
    else:
        run, net = _ppo_trainer(batch, lr, seed, dev)
    return Operation(run, items_per_call=batch, info=device_info(
        dev, model=model, parameters=count_parameters(net), batch=batch,
        source=source if model == "cnn_lstm" else "synthetic_rollout", optimizer="adam"))


_COLD_CHILD = """
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
from trading_agent.models.checkpoint import load_model
t2 = time.perf_counter()
path, fmt, device, shape = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
net = load_model(path, fmt, device)
with torch.inference_mode():
    out = net(torch.zeros(shape).to(device))
    out[0].cpu()
t3 = time.perf_counter()
sys.stdout.write("\\n" + json.dumps({"import_torch_s": t1 - t0, "import_model_code_s": t2 - t1, "load_predict_s": t3 - t2}))
"""


def model_load(model: str = "cnn_lstm", fmt: str = "state_dict", *, cold: bool = False, seed: int = 0,
               device: str = "auto") -> Operation:
    """One call = load a saved model from a file and make its first prediction (batch 1).

    ``fmt``: ``state_dict`` (construct the module + load weights), ``torchscript`` or ``export``.
    ``cold=False`` loads in this process (torch already imported and warm); ``cold=True`` runs
    each load in a fresh Python process, so the call includes interpreter start and
    ``import torch``: the time a restarted service waits for its first prediction.
    Setup writes the file to a temporary directory that ``close`` removes.
    """
    _check_choice("model", model, MODELS)
    _check_choice("fmt", fmt, FORMATS)
    dev = resolve_device(device)
    net: torch.nn.Module
    if model == "cnn_lstm":
        cnn = build_cnn_lstm(seed=seed)
        net, shape = cnn, [1, cnn.config.window, cnn.config.n_features]
        first = torch.from_numpy(synthetic_windows(1, seed=seed).x)
    else:
        policy = build_actor_critic(seed=seed)
        net, shape = policy, [1, policy.config.obs_dim]
        first = torch.from_numpy(synthetic_observations(1, seed=seed))
    net = net.to(dev).eval()
    tmp = Path(tempfile.mkdtemp(prefix="trading-model-"))
    path = tmp / f"{model}.{'pt2' if fmt == 'export' else 'pt'}"
    try:
        save_model(net, path, fmt, example=torch.zeros([2, *shape[1:]], device=dev))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    env = dict(os.environ)
    root = str(Path(trading_agent.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)

    def run_warm() -> Any:
        loaded = load_model(path, fmt, dev)
        with torch.inference_mode():
            out = loaded(first.to(dev))[0].cpu()
        synchronize(dev)
        return out

    def run_cold() -> dict[str, float]:
        proc = subprocess.run([sys.executable, "-c", _COLD_CHILD, str(path), fmt, str(dev), json.dumps(shape)],
                              capture_output=True, text=True, env=env, timeout=120)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"cold model load of {path} ({fmt}) failed with exit code "
                               f"{proc.returncode}: {proc.stderr.strip()[-2000:]}")
        return json.loads(lines[-1])  # the child's last line; anything before it is not ours

    return Operation(run_cold if cold else run_warm, items_per_call=1,
                     close=lambda: shutil.rmtree(tmp, ignore_errors=True),
                     info=device_info(dev, model=model, format=fmt, cold=cold, file_bytes=path.stat().st_size,
                                      parameters=count_parameters(net)))

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import REPO
from trading_agent.models import bench
from trading_agent.models.checkpoint import load_model, load_state_dict, save_model
from trading_agent.models.cnn_lstm import CNNLSTMConfig, build_cnn_lstm, predict
from trading_agent.models.device import resolve_device
from trading_agent.models.features import sp500_windows, synthetic_windows
from trading_agent.models.rl_agent import (ACTIONS, OBS_DIM, build_actor_critic, gae, ppo_loss,
                                           synthetic_observations, synthetic_rollout)
from trading_agent.models.training import (batches, cnn_lstm_step, evaluate_cnn_lstm, make_optimizer,
                                           ppo_step, to_batch)

EXPECTED_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# torch 2.13 deprecates TorchScript; it is still measured as a format, so its warning is expected.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:DeprecationWarning")


def test_cnn_lstm_maps_windows_to_return_and_direction_per_row():
    model = build_cnn_lstm(seed=1)
    pred = predict(model, torch.randn(3, 60, 15))
    assert pred.next_return.shape == (3,) and pred.direction_logits.shape == (3, 2)
    assert ((pred.p_up >= 0) & (pred.p_up <= 1)).all()
    assert 20_000 < sum(p.numel() for p in model.parameters()) < 500_000  # realistic, not a toy


def test_cnn_lstm_refuses_a_window_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\(batch, 60, 15\), got \(2, 30, 15\)"):
        predict(build_cnn_lstm(), torch.zeros(2, 30, 15))


def test_config_refuses_bad_values_naming_them():
    with pytest.raises(ValueError, match="kernel_size.*got 4"):
        CNNLSTMConfig(kernel_size=4)


def test_same_seed_gives_the_same_model_and_leaves_the_global_rng_alone():
    x = torch.randn(4, 60, 15)
    state = torch.get_rng_state()
    a, b, c = build_cnn_lstm(seed=3), build_cnn_lstm(seed=3), build_cnn_lstm(seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(predict(a, x).next_return, predict(b, x).next_return)
    assert not torch.equal(predict(a, x).next_return, predict(c, x).next_return)


def test_synthetic_windows_are_seeded_with_a_unit_variance_target():
    a, b = synthetic_windows(50, seed=9), synthetic_windows(50, seed=9)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.next_return, b.next_return)
    assert a.x.shape == (50, 60, 15) and a.x.dtype == np.float32
    big = synthetic_windows(20_000, seed=1, noise=0.0)
    assert big.next_return.std() == pytest.approx(1.0, abs=0.03)


def test_sp500_windows_target_the_next_day_without_look_ahead():
    data = sp500_windows()
    assert data.x.shape[1:] == (60, 15) and len(data) > 4800 and np.isfinite(data.x).all()
    # feature 0 is the day's standardised log return: the target of window i is the return on
    # the last day of window i+1, up to the affine map between the two standardisations.
    feature, target = data.x[1:, -1, 0].astype(float), data.next_return[:-1].astype(float)
    slope, intercept = np.polyfit(feature, target, 1)
    assert np.abs(target - (slope * feature + intercept)).max() < 1e-4
    assert np.array_equal(data.direction, (data.next_return > 0).astype(np.int64))


def test_training_steps_reduce_the_loss_on_a_learnable_target():
    torch.manual_seed(0)
    data = synthetic_windows(1024, seed=5, noise=0.3)
    held_out = to_batch(synthetic_windows(256, seed=6, noise=0.3))  # same target function, new rows
    model = build_cnn_lstm(seed=0)
    opt = make_optimizer(model, lr=3e-3)
    before = evaluate_cnn_lstm(model, held_out)
    for batch in batches(data, 64, 40, seed=1):
        cnn_lstm_step(model, opt, batch)
    after = evaluate_cnn_lstm(model, held_out)
    assert after < 0.8 * before, (before, after)


def test_actor_critic_acts_with_log_prob_and_value_per_observation():
    policy = build_actor_critic(seed=0)
    obs = torch.from_numpy(synthetic_observations(5, seed=0))
    step = policy.act(obs, generator=torch.Generator().manual_seed(1))
    assert step.action.shape == step.log_prob.shape == step.value.shape == (5,)
    assert set(step.action.tolist()) <= set(range(len(ACTIONS))) and (step.log_prob <= 0).all()
    again = policy.act(obs, generator=torch.Generator().manual_seed(1))
    assert torch.equal(step.action, again.action)
    with pytest.raises(ValueError, match=rf"\(batch, {OBS_DIM}\), got \(5, 10\)"):
        policy.act(torch.zeros(5, 10))


def test_gae_matches_a_hand_computed_trajectory():
    adv, ret = gae(np.array([1.0, 1.0]), np.zeros(2), np.array([False, True]), last_value=5.0,
                   gamma=0.5, lam=1.0)
    assert adv.tolist() == [1.5, 1.0]  # the episode ends after step 1: last_value is not used
    assert ret.tolist() == [1.5, 1.0]


def test_ppo_steps_reduce_the_value_loss_on_a_fixed_rollout():
    torch.manual_seed(0)
    policy = build_actor_critic(seed=0)
    rollout = synthetic_rollout(policy, 512, seed=2)
    opt = make_optimizer(policy, lr=1e-3)
    before = ppo_loss(policy, rollout).value
    for _ in range(30):
        ppo_step(policy, opt, rollout)
    after = ppo_loss(policy, rollout)
    assert after.value < 0.5 * before and after.approx_kl >= 0


@pytest.mark.parametrize("kind, fmt", [("cnn_lstm", "state_dict"), ("cnn_lstm", "torchscript"),
                                       ("ppo", "state_dict"), ("ppo", "torchscript"), ("ppo", "export")])
def test_saved_and_loaded_model_predicts_identically(tmp_path: Path, kind: str, fmt: str):
    model = (build_cnn_lstm(seed=2) if kind == "cnn_lstm" else build_actor_critic(seed=2)).eval()
    x = torch.randn(4, 60, 15) if kind == "cnn_lstm" else torch.randn(4, OBS_DIM)
    path = save_model(model, tmp_path / f"m.{'pt2' if fmt == 'export' else 'pt'}", fmt, example=x)
    loaded = load_model(path, fmt)
    with torch.inference_mode():
        for want, got in zip(model(x), loaded(x)):
            assert torch.equal(want, got)


def test_loading_a_file_that_is_not_a_checkpoint_names_the_file(tmp_path: Path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="other.pt: not a version-1 model checkpoint"):
        load_state_dict(path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize("factory", [bench.cnn_lstm_inference, bench.rl_agent_action, bench.training_step,
                                     bench.model_load])
def test_cuda_asked_for_without_cuda_is_refused_naming_the_device(factory):
    with pytest.raises(ValueError, match="device 'cuda' was asked for but CUDA is not available"):
        factory(device="cuda")


def test_unknown_device_and_choices_are_refused_naming_the_value():
    with pytest.raises(ValueError, match="'tpu'"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="model must be one of .* got 'gru'"):
        bench.training_step(model="gru")
    with pytest.raises(ValueError, match="fmt must be one of .* got 'onnx'"):
        bench.model_load(fmt="onnx")


@pytest.mark.parametrize("factory, params", [
    (bench.cnn_lstm_inference, {"batch": 1}),
    (bench.cnn_lstm_inference, {"batch": 32, "source": "synthetic"}),
    (bench.rl_agent_action, {}),
    (bench.rl_agent_action, {"batch": 8, "deterministic": True}),
    (bench.training_step, {"batch": 16}),
    (bench.training_step, {"batch": 16, "model": "ppo"}),
    (bench.model_load, {}),
    (bench.model_load, {"model": "ppo", "fmt": "torchscript"}),
])
def test_factory_runs_and_reports_its_device(factory, params):
    op = factory(device="auto", **params)
    try:
        for _ in range(3):
            op()
    finally:
        op.close()
    assert op.items_per_call == params.get("batch", 1)
    assert op.info["device"] == EXPECTED_DEVICE and op.info["torch"] == torch.__version__
    assert op.info["threads"] == torch.get_num_threads()


def test_model_load_removes_its_saved_file_on_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where mkdtemp puts the model file
    op = bench.model_load()
    assert [f.suffix for f in tmp_path.glob("*/*")] == [".pt"]
    op.close()
    assert list(tmp_path.iterdir()) == []


def test_cold_model_load_predicts_in_a_fresh_process_without_the_pipeline():
    op = bench.model_load(cold=True)
    try:
        timings = op()
    finally:
        op.close()
    assert set(timings) == {"import_torch_s", "import_model_code_s", "load_predict_s"}, timings
    code = ("import sys, trading_agent.models.bench; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('perf_tasks', 'airflow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr

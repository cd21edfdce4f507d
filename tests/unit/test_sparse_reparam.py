"""STDS / Grad R weight reparameterisation (snnkit.sparse.reparam): the mappings' values and gradients,
the flat-width schedules, sparsity counts, Grad R's prior, BatchNorm under Grad R, settings checks, and
exact resume of a Trainer run whose D follows a schedule (also under bf16 autocast and an LR schedule)."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import TensorDataset

from snnkit.errors import ConfigError
from snnkit.sparse.reparam import (
    FlatWidthSchedule,
    GradRPrior,
    apply_reparam,
    check_reparam_settings,
    flat_width_at,
    gradr_center,
    gradr_prior_step_,
    gradr_weight,
    inverse_soft_threshold,
    remove_reparam,
    reparam_layers,
    schedule_fraction,
    soft_threshold,
    soft_threshold_st,
    sparsify,
    sparsity_report,
    spine_states,
)
from snnkit.train import LAST_CHECKPOINT, Callback, Trainer, load_checkpoint

torch.set_num_threads(1)

floats32 = st.floats(-8.0, 8.0, width=32, allow_nan=False)
widths = st.floats(0.0, 4.0, width=32, allow_nan=False)
values = st.lists(floats32, min_size=1, max_size=40)


def _reference_soft_threshold(theta: torch.Tensor, d: float) -> torch.Tensor:
    return torch.sign(theta) * torch.relu(theta.abs() - d)


# ------------------------------------------------------------------------------------------ mappings
@settings(max_examples=60, deadline=None)
@given(values, widths)
def test_stmod_value_is_the_soft_threshold_and_its_gradient_is_the_upstream_one(theta_list, d) -> None:
    theta = torch.tensor(theta_list + [0.0, d, -d], requires_grad=True)
    w = soft_threshold_st(theta, torch.tensor(d))
    assert torch.equal(w, _reference_soft_threshold(theta.detach(), d))
    assert bool((w[theta.detach().abs() <= d] == 0).all())  # exact zeros in the flat zone
    upstream = torch.linspace(-1.0, 2.0, theta.numel())
    w.backward(upstream)
    assert torch.equal(theta.grad, upstream)  # straight through, flat zone and θ = 0 included


@settings(max_examples=60, deadline=None)
@given(values, widths)
def test_st_value_is_the_soft_threshold_with_zero_gradient_in_the_flat_zone(theta_list, d) -> None:
    theta = torch.tensor(theta_list + [d, -d, 0.0], requires_grad=True)
    w = soft_threshold(theta, d)
    assert torch.equal(w, _reference_soft_threshold(theta.detach(), d))
    upstream = torch.linspace(0.5, 3.0, theta.numel())
    w.backward(upstream)
    outside = theta.detach().abs() > d
    assert torch.equal(theta.grad, torch.where(outside, upstream, torch.zeros_like(upstream)))


@settings(max_examples=60, deadline=None)
@given(values)
def test_gradr_weight_is_sign_times_relu_with_the_rewired_gradient(theta_list) -> None:
    theta = torch.tensor(theta_list, requires_grad=True)
    sign = torch.where(torch.arange(theta.numel()) % 3 == 0, -1.0, 1.0)
    w = gradr_weight(theta, sign)
    assert torch.equal(w, sign * torch.relu(theta.detach()))
    upstream = torch.linspace(-2.0, 1.0, theta.numel())
    w.backward(upstream)
    assert torch.equal(theta.grad, sign * upstream)  # also where θ < 0: a pruned weight can regrow


@settings(max_examples=40, deadline=None)
@given(values, widths)
def test_inverse_soft_threshold_recovers_the_weight(w_list, d) -> None:
    w = torch.tensor(w_list)
    back = soft_threshold(inverse_soft_threshold(w, d), d)
    assert torch.allclose(back, w, atol=4e-6 * (1 + d), rtol=1e-6)
    assert bool((back[w == 0] == 0).all())


def _net() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv1d(2, 3, 3), nn.Flatten(), nn.Linear(12, 8), nn.Tanh(),
                         nn.Unflatten(1, (2, 2, 2)), nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2), nn.Flatten(),
                         nn.Linear(8, 3))


@pytest.mark.parametrize("kind", ["identity", "stmod", "st", "gradr"])
def test_apply_reparam_keeps_the_initial_weights_and_the_model_output(kind: str) -> None:
    model = _net()
    before = {n: m.weight.detach().clone() for n, m in model.named_modules() if hasattr(m, "weight")}
    x = torch.randn(4, 2, 6)
    out = model(x)
    chosen = apply_reparam(model, kind)
    assert [n for n, _ in chosen] == ["0", "2", "5", "8"]  # Conv1d, Linear, Conv2d, Linear; not BatchNorm
    assert not parametrize.is_parametrized(model[6])
    for name, layer in chosen:
        assert torch.equal(layer.weight, before[name])
        theta = layer.parametrizations.weight.original
        expected = before[name].abs() if kind == "gradr" else before[name]
        assert torch.equal(theta, expected)
    assert torch.equal(model(x), out)
    assert [k for k, _, _ in reparam_layers(model)] == ["0", "2", "5", "8"]


def test_stmod_with_a_starting_width_starts_at_the_weight_and_gradr_keeps_its_sign() -> None:
    model = _net()
    w0 = model[2].weight.detach().clone()
    apply_reparam(model, "stmod", flat_width=0.5, layers=["2"])
    theta = model[2].parametrizations.weight.original
    assert torch.equal(theta, w0 + torch.sign(w0) * 0.5)
    assert torch.allclose(model[2].weight, w0, atol=1e-6)
    assert [n for n, _, _ in reparam_layers(model)] == ["2"]

    model = _net()
    w0 = model[8].weight.detach().clone()
    apply_reparam(model, "gradr", layers=lambda name, m: isinstance(m, nn.Linear))
    layer = model[8]
    assert torch.equal(layer.parametrizations.weight[0].sign, torch.where(w0 < 0, -1.0, 1.0))
    with torch.no_grad():
        layer.parametrizations.weight.original.copy_(-w0.abs())  # every strength negative: all pruned
    assert bool((layer.weight == 0).all())
    layer.weight = w0 * 2  # assigning goes through right_inverse: θ = s·w
    assert torch.allclose(layer.weight, w0 * 2)


def test_remove_reparam_bakes_in_the_effective_weights() -> None:
    model = _net()
    layers = apply_reparam(model, "stmod", flat_width=0.0)
    for _, _, p in reparam_layers(model):
        p.set_flat_width(0.2)
    effective = {n: m.weight.detach().clone() for n, m in layers}
    assert sorted(remove_reparam(model)) == sorted(effective)
    for name, layer in layers:
        assert not parametrize.is_parametrized(layer)
        assert isinstance(layer.weight, nn.Parameter)
        assert torch.equal(layer.weight, effective[name])
    assert reparam_layers(model) == []


class Pruned(nn.Module):
    """A model that says which layers its paper prunes (as SEW-ResNet: not the final FC)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(8, 2)

    def prunable_layers(self):
        return [("conv", self.conv)]


def test_a_models_prunable_layers_are_the_default_selection() -> None:
    model = Pruned()
    assert [n for n, _ in apply_reparam(model, "stmod")] == ["conv"]
    assert not parametrize.is_parametrized(model.fc)
    assert set(sparsity_report(model)["layers"]) == {"conv"}
    remove_reparam(model)
    assert set(sparsity_report(model)["layers"]) == {"conv"}
    assert [n for n, _ in apply_reparam(model, "gradr", layers=[("fc", model.fc)])] == ["fc"]


def test_a_parametrized_layer_cannot_be_reparameterised_twice_and_bad_selections_are_named() -> None:
    model = _net()
    apply_reparam(model, "stmod", layers=["0"])
    with pytest.raises(ConfigError, match="remove_reparam"):
        apply_reparam(model, "st")
    with pytest.raises(ConfigError, match="did you mean '2'"):
        apply_reparam(model, "st", layers=["2 "])
    with pytest.raises(ConfigError, match="at least one"):
        apply_reparam(model, "st", layers=lambda n, m: False)
    with pytest.raises(ConfigError, match="'layers'"):
        apply_reparam(model, "st", layers="2")


def test_stmod_trains_under_bf16_autocast_with_exact_zeros() -> None:
    model = _net()
    apply_reparam(model, "stmod")
    for _, _, p in reparam_layers(model):
        p.set_flat_width(0.15)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(4, 2, 6))
    out.float().sum().backward()
    theta = model[2].parametrizations.weight.original
    assert theta.grad is not None and theta.grad.dtype == torch.float32
    assert bool((theta.grad[theta.detach().abs() <= 0.15] != 0).any())  # flat-zone spines still learn
    assert sparsity_report(model)["zeros"] > 0


# ----------------------------------------------------------------------------------------- schedules
@pytest.mark.parametrize("schedule", ["sine", "linear"])
def test_schedules_start_at_zero_end_at_one_and_rise_monotonically(schedule: str) -> None:
    assert schedule_fraction(0.0, schedule) == 0.0
    assert schedule_fraction(1.0, schedule) == 1.0
    xs = [i / 10_000 for i in range(10_001)]
    ys = [schedule_fraction(x, schedule) for x in xs]
    assert all(a <= b for a, b in zip(ys, ys[1:]))
    assert schedule_fraction(-0.5, schedule) == 0.0 and schedule_fraction(1.7, schedule) == 1.0
    assert flat_width_at(0, 80, 3.0, schedule) == 0.0
    assert flat_width_at(80, 80, 3.0, schedule) == 3.0
    assert flat_width_at(200, 80, 3.0, schedule) == 3.0  # constant after N


def test_schedule_values() -> None:
    assert schedule_fraction(0.5, "sine") == pytest.approx(0.5, abs=1e-15)
    assert schedule_fraction(0.25, "sine") == pytest.approx((1 - math.cos(math.pi / 4)) / 2, abs=1e-15)
    assert schedule_fraction(0.25, "linear") == 0.25
    assert flat_width_at(30, 120, 4.0, "linear") == 1.0
    assert all(flat_width_at(n, 10, 2.5, "none") == 2.5 for n in (0, 5, 10))
    # the authors' sineInc(n, N), the formula as written
    n, big_n = 37, 113
    assert flat_width_at(n, big_n, 2.0, "sine") == 2.0 * (1.0 + math.sin(math.pi * (n / big_n - 0.5))) / 2


def test_flat_width_schedule_sets_every_layers_width() -> None:
    model = _net()
    apply_reparam(model, "stmod", layers=["0", "2"])
    apply_reparam(model, "st", layers=["8"])
    sched = FlatWidthSchedule(model, d_max=2.0, schedule="linear", total_steps=8)
    assert sched.set_step(2) == 0.5
    assert [float(p.flat_width) for _, _, p in reparam_layers(model)] == [0.5, 0.5, 0.5]
    with pytest.raises(ConfigError, match="total_steps"):
        FlatWidthSchedule(model, d_max=2.0, schedule="linear").set_step(1)
    with pytest.raises(ConfigError, match="stmod or st"):
        FlatWidthSchedule(_gradr_model(), d_max=1.0)


# ------------------------------------------------------------------------------------------ sparsity
def test_sparsity_report_counts_exact_zeros_of_the_effective_weights() -> None:
    model = nn.Sequential(nn.Linear(4, 3, bias=False), nn.BatchNorm1d(3), nn.Linear(3, 2))
    apply_reparam(model, "stmod", flat_width=0.0)
    with torch.no_grad():
        model[0].parametrizations.weight.original.copy_(
            torch.tensor([[0.1, -0.2, 0.5, 0.0], [1.0, -1.0, 0.3, -0.3], [0.29, 0.31, 2.0, -0.05]]))
        model[2].parametrizations.weight.original.copy_(torch.tensor([[0.0, 0.0, 0.4], [0.7, -0.1, 0.0]]))
    report = sparsity_report(model)
    assert report["layers"]["0"] == {"zeros": 1, "total": 12, "sparsity": 1 / 12}
    assert report["layers"]["2"]["zeros"] == 3
    for _, _, p in reparam_layers(model):
        p.set_flat_width(0.3)  # |θ| <= 0.3 is silent: 0.1 -0.2 0 0.3 -0.3 0.29 -0.05 | 0 0 -0.1 0
    report = sparsity_report(model)
    assert report["layers"]["0"]["zeros"] == 7 and report["layers"]["2"]["zeros"] == 4
    assert (report["zeros"], report["total"]) == (11, 18)
    assert report["sparsity"] == pytest.approx(11 / 18) and report["connectivity"] == pytest.approx(7 / 18)
    assert set(sparsity_report(model, layers=["2"])["layers"]) == {"2"}
    states = spine_states(model)
    assert torch.equal(states["2"]["theta"], torch.tensor([[0.0, 0.0, 0.4], [0.7, -0.1, 0.0]]))
    assert int((states["0"]["weight"] == 0).sum()) == 7
    remove_reparam(model)  # no reparam left: every Conv/Linear counts, zeros as baked in
    assert sparsity_report(model)["zeros"] == 11


# ----------------------------------------------------------------------------------------- Grad R
def test_gradr_center_and_prior_step_values() -> None:
    assert gradr_center(1e-3, 0.5) == 0.0
    assert gradr_center(1e-3, 0.95) == pytest.approx(math.log(0.1) / 1e-3)
    assert gradr_center(0.5, 0.25) == pytest.approx(math.log(1.5) / 0.5)
    theta = torch.tensor([-3.0, -1.0, 0.0, 2.0, 5.0])
    gradr_prior_step_(theta, alpha=0.5, lr=0.1, center=0.0)  # moves towards μ_c by α·lr = 0.05
    assert torch.allclose(theta, torch.tensor([-2.95, -0.95, 0.0, 1.95, 4.95]))
    theta = torch.tensor([-3.0, 1.0])
    gradr_prior_step_(theta, alpha=1e-3, lr=1e-4, center=gradr_center(1e-3, 0.9))  # μ_c ≈ -1609
    assert torch.equal(theta, torch.tensor([-3.0, 1.0]) - 1e-7)


def _gradr_model() -> nn.Module:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 3))
    apply_reparam(model, "gradr")
    return model


def _images(n: int = 48) -> TensorDataset:
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(n, 1, 4, 4, generator=gen)
    return TensorDataset(x, (x.flatten(1) @ torch.randn(16, 3, generator=gen)).argmax(1))


def test_gradr_prior_after_each_step_and_batchnorm_trains() -> None:
    model = _gradr_model()
    theta0 = model[4].parametrizations.weight.original.detach().clone()
    bn0 = [p.detach().clone() for p in model[1].parameters()]
    prior = GradRPrior(alpha=0.1, lr=0.5, target_sparsity=0.9)  # μ_c = ln(0.2)/0.1 ≈ -16: every θ above it
    trainer = Trainer(model, loss_fn=nn.functional.cross_entropy,
                      optimizer=functools.partial(torch.optim.SGD, lr=0.0), epochs=1, batch_size=16, seed=0,
                      device="cpu", progress=False, callbacks=[prior])
    history = trainer.fit(_images())
    steps = trainer.global_step
    assert steps == 3 and prior.steps == 3
    # lr 0: only the prior moved θ, by α·lr = 0.05 per step
    assert torch.allclose(model[4].parametrizations.weight.original, theta0 - 0.05 * steps, atol=1e-6)
    assert history[-1]["sparsity"] == sparsity_report(model)["sparsity"] > 0

    model = _gradr_model()
    trainer = Trainer(model, loss_fn=nn.functional.cross_entropy,
                      optimizer=functools.partial(torch.optim.Adam, lr=1e-2), epochs=2, batch_size=16, seed=0,
                      device="cpu", progress=False, callbacks=[GradRPrior(1e-3, None, 0.95)])
    trainer.fit(_images())
    for p, p0 in zip(model[1].parameters(), bn0):
        assert p.requires_grad
        assert not torch.equal(p.detach(), p0), "BatchNorm must train under Grad R"


def test_gradr_prior_reads_the_optimisers_lr_and_skips_steps_the_grad_scaler_skipped() -> None:
    model = _gradr_model()
    thetas = [m.parametrizations.weight.original for _, m, _ in reparam_layers(model)]
    opt = torch.optim.SGD([{"params": thetas[:1], "lr": 0.2}, {"params": thetas[1:], "lr": 0.0}])
    before = [t.detach().clone() for t in thetas]
    prior = GradRPrior(alpha=0.5, lr=None, target_sparsity=0.7, layers=model)
    prior.apply(opt)
    assert torch.allclose(thetas[0], before[0] - 0.1 * torch.sign(before[0] - prior.center))
    assert torch.equal(thetas[1], before[1])  # lr 0

    class Scaler:
        def __init__(self, scales):
            self.scales = iter(scales)

        def get_scale(self):
            return next(self.scales)

    fixed = GradRPrior(alpha=0.5, lr=0.2, target_sparsity=0.7, layers=model)
    now = thetas[0].detach().clone()
    trainer = SimpleNamespace(scaler=Scaler([4.0, 2.0]), optimizer=opt)  # scale backed off: skipped step
    fixed.on_after_backward(trainer)
    fixed.on_step_end(trainer)
    assert torch.equal(thetas[0], now) and fixed.steps == 0
    trainer.scaler = Scaler([4.0, 4.0])
    fixed.on_after_backward(trainer)
    fixed.on_step_end(trainer)
    assert fixed.steps == 1 and not torch.equal(thetas[0], now)


# --------------------------------------------------------------------------------------- bad settings
@pytest.mark.parametrize(("call", "match"), [
    (lambda: check_reparam_settings("stmd"), "did you mean 'stmod'"),
    (lambda: check_reparam_settings("stmod", flat_width=-1.0), "'flat_width' = -1.0"),
    (lambda: check_reparam_settings("stmod", flat_width=float("nan")), "'flat_width'"),
    (lambda: check_reparam_settings("stmod", 1.0, schedule="cosine"), "'schedule' = 'cosine'"),
    (lambda: check_reparam_settings("stmod", 1.0, schedule="sin"), "did you mean 'sine'"),
    (lambda: check_reparam_settings("gradr", target_sparsity=0.9), "'alpha' = None"),
    (lambda: check_reparam_settings("gradr", alpha=1e-3), "'target_sparsity' = None"),
    (lambda: check_reparam_settings("gradr", alpha=1e-3, target_sparsity=1.0), "'target_sparsity' = 1.0"),
    (lambda: check_reparam_settings("gradr", alpha=0.0, target_sparsity=0.5), "'alpha' = 0.0"),
    (lambda: apply_reparam(_net(), "gradR"), "did you mean 'gradr'"),
    (lambda: apply_reparam(_net(), "stmod", flat_width=-0.5), "'flat_width' = -0.5"),
    (lambda: sparsify(_net(), "gradr", alpha=None, target_sparsity=0.9), "'alpha' = None"),
    (lambda: GradRPrior(None, 1e-4, 0.9), "'alpha' = None"),
    (lambda: GradRPrior(1e-3, 1e-4, 0.0), "'target_sparsity' = 0.0"),
    (lambda: FlatWidthSchedule(_stmod_model(), d_max=-1), "'d_max' = -1"),
    (lambda: FlatWidthSchedule(_stmod_model(), d_max=1, schedule="exp"), "'schedule' = 'exp'"),
    (lambda: FlatWidthSchedule(_stmod_model(), d_max=1, total_steps=0), "'total_steps' = 0"),
])
def test_bad_settings_raise_config_error_naming_the_value(call, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        call()


def test_sparsify_builds_what_each_kind_needs() -> None:
    layers, cbs = sparsify(_net(), "stmod", flat_width=3.0, schedule="sine")
    assert len(layers) == 4 and [type(c) for c in cbs] == [FlatWidthSchedule]
    assert all(float(p.flat_width) == 0.0 for _, m in layers for p in m.parametrizations.weight)
    _, cbs = sparsify(_net(), "st", flat_width=2.0, schedule="none")
    assert cbs[0].flat_width == 2.0
    _, cbs = sparsify(_net(), "gradr", alpha=1e-3, target_sparsity=0.9)
    assert [type(c) for c in cbs] == [GradRPrior]
    layers, cbs = sparsify(_net(), "identity", flat_width=5.0)
    assert cbs == [] and all(isinstance(m.parametrizations.weight[0], nn.Module) for _, m in layers)


# ------------------------------------------------------------------------------------- exact resume
def _data(n: int = 120, d: int = 6, classes: int = 3, seed: int = 0) -> TensorDataset:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen)
    return TensorDataset(x, (x @ torch.randn(d, classes, generator=gen)).argmax(1))


def _stmod_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 3))
    apply_reparam(model, "stmod")
    return model


class Killed(Exception):
    pass


class Probe(Callback):
    """Records every layer's D when an epoch (re)starts, i.e. right after a checkpoint was restored, and
    stops the run after optimiser step ``kill_at`` (an in-process stand-in for a kill)."""

    def __init__(self, model: nn.Module, kill_at: int | None = None) -> None:
        self.model, self.kill_at, self.seen = model, kill_at, []

    def on_epoch_start(self, trainer, epoch):
        self.seen.append([float(p.flat_width) for _, _, p in reparam_layers(self.model) if hasattr(p, "flat_width")])

    def on_step_end(self, trainer):
        if trainer.global_step == self.kill_at:
            raise Killed


def _fit(model: nn.Module, callbacks: list[Callback], amp: bool, **kw) -> Trainer:
    trainer = Trainer(model, loss_fn=nn.functional.cross_entropy,
                      optimizer=functools.partial(torch.optim.Adam, lr=2e-2), epochs=3, batch_size=16, seed=0,
                      device="cpu", progress=False, amp=amp, callbacks=callbacks,
                      scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.8), **kw)
    trainer.fit(_data(), _data(seed=1))
    return trainer


@pytest.mark.parametrize(("schedule", "amp", "crash_step", "every"),
                         [("sine", False, 11, 2), ("linear", True, 13, 3), ("sine", True, 9, None)])
def test_resume_continues_with_the_checkpointed_flat_width(tmp_path: Path, schedule: str, amp: bool,
                                                           crash_step: int, every: int | None) -> None:
    ref_model = _stmod_model()
    ref = _fit(ref_model, [FlatWidthSchedule(ref_model, 0.3, schedule)], amp)  # 8 steps per epoch, 24 in all
    assert ref.history[-1]["flat_width"] == pytest.approx(0.3)
    assert 0 < ref.history[-1]["sparsity"] <= 1

    crashed = _stmod_model()
    with pytest.raises(Killed):
        _fit(crashed, [FlatWidthSchedule(crashed, 0.3, schedule), Probe(crashed, crash_step)], amp,
             ckpt_dir=tmp_path, ckpt_every_steps=every)
    state = load_checkpoint(tmp_path / LAST_CHECKPOINT)
    saved = state["callbacks"][0]
    step = state["position"]["step"]
    assert 0 < step < crash_step and saved["step"] == step
    assert saved["flat_width"] == flat_width_at(step, 24, 0.3, schedule) > 0
    assert "0.parametrizations.weight.original" in state["model"]

    resumed = _stmod_model(seed=7)  # a fresh process rebuilds the model (here with other initial weights)
    probe = Probe(resumed)
    trainer = _fit(resumed, [FlatWidthSchedule(resumed, 0.3, schedule), probe], amp,
                   ckpt_dir=tmp_path, ckpt_every_steps=every)
    assert trainer.resumed_from is not None and trainer.global_step == 24
    d_saved = torch.tensor(saved["flat_width"], dtype=torch.float32).item()
    assert probe.seen[0] == [d_saved, d_saved]  # not 0 (the original's fallback)
    strip = [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in ref.history]
    assert strip == [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in trainer.history]
    ref_w, res_w = ref_model.state_dict(), resumed.state_dict()
    assert ref_w.keys() == res_w.keys()
    assert all(torch.equal(ref_w[k], res_w[k]) for k in ref_w)
    assert torch.equal(ref_model[0].weight, resumed[0].weight)
    assert trainer.callbacks[0].state_dict() == ref.callbacks[0].state_dict()


def test_gradr_resume_restores_signs_and_strengths(tmp_path: Path) -> None:
    def make(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
        apply_reparam(model, "gradr")
        return model

    ref_model = make(0)
    _fit(ref_model, [GradRPrior(0.05, None, 0.8)], amp=False)
    crashed = make(0)
    with pytest.raises(Killed):
        _fit(crashed, [GradRPrior(0.05, None, 0.8), Probe(crashed, 14)], amp=False, ckpt_dir=tmp_path,
             ckpt_every_steps=4)
    resumed = make(3)  # other signs until the checkpoint's are loaded
    assert not torch.equal(resumed[0].parametrizations.weight[0].sign, ref_model[0].parametrizations.weight[0].sign)
    _fit(resumed, [GradRPrior(0.05, None, 0.8), Probe(resumed)], amp=False, ckpt_dir=tmp_path,
         ckpt_every_steps=4)
    ref_w, res_w = ref_model.state_dict(), resumed.state_dict()
    assert "0.parametrizations.weight.0.sign" in ref_w
    assert all(torch.equal(ref_w[k], res_w[k]) for k in ref_w)

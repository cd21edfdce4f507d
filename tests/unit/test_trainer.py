"""The BPTT trainer: learning, determinism, data order, callbacks, AMP, clipping, TensorBoard, bad inputs,
and exact resume (in-process crash at a chosen step) including a parametrized weight."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import Dataset, TensorDataset

from snnkit.errors import ConfigError
from snnkit.train import LAST_CHECKPOINT, Callback, History, Trainer, count_correct, load_checkpoint


def _data(n: int = 120, d: int = 6, classes: int = 3, seed: int = 0) -> TensorDataset:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen)
    return TensorDataset(x, (x @ torch.randn(d, classes, generator=gen)).argmax(1))


def _model(d: int = 6, classes: int = 3, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, classes))


def _trainer(model: nn.Module | None = None, **kw) -> Trainer:
    args = dict(
        loss_fn=nn.functional.cross_entropy,
        optimizer=functools.partial(torch.optim.Adam, lr=2e-2),
        epochs=3,
        batch_size=16,
        seed=0,
        device="cpu",
        progress=False,
    )
    args.update(kw)
    return Trainer(model if model is not None else _model(), **args)


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same_history(a: list[dict], b: list[dict]) -> bool:
    def strip(h: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in h]

    return strip(a) == strip(b)


# ---------------------------------------------------------------------------------------- learning
def test_fit_learns_and_records_history() -> None:
    data = _data()
    trainer = _trainer(scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5))
    history = trainer.fit(data, _data(seed=0))
    assert isinstance(history, History) and len(history) == 3
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert set(history[0]) >= {
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "epoch_time_s",
    }
    assert [r["lr"] for r in history] == pytest.approx([2e-2, 1e-2, 5e-3])
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["train_accuracy"] > 0.7
    assert trainer.global_step == 3 * math.ceil(120 / 16) and trainer.epoch == 3
    ev = trainer.evaluate(data)
    assert ev["accuracy"] == pytest.approx(history[-1]["val_accuracy"])
    out, tgt = trainer.predict(data)
    assert out.shape == (120, 3) and torch.equal(tgt, data.tensors[1])
    assert count_correct(out, tgt) / 120 == pytest.approx(ev["accuracy"])
    df = history.as_dataframe()
    assert list(df["epoch"]) == [1, 2, 3]


def test_same_seed_same_numbers_other_seed_differs() -> None:
    a, b, c = _model(dropout=0.3), _model(dropout=0.3), _model(dropout=0.3)
    ha = _trainer(a).fit(_data())
    hb = _trainer(b).fit(_data())
    hc = _trainer(c, seed=1).fit(_data())
    assert _same_history(ha, hb)
    assert all(torch.equal(x, y) for x, y in zip(_weights(a).values(), _weights(b).values()))
    assert not _same_history(ha, hc)


class Recording(Dataset):
    def __init__(self, base: TensorDataset) -> None:
        self.base, self.seen = base, []

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        self.seen.append(i)
        return self.base[i]


def test_data_order_is_a_seeded_permutation_per_epoch() -> None:
    orders = []
    for _ in range(2):
        ds = Recording(_data(50))
        _trainer(epochs=2, batch_size=8).fit(ds)
        orders.append(ds.seen)
    assert orders[0] == orders[1]
    first, second = orders[0][:50], orders[0][50:]
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second and first != list(range(50))


def test_drop_last_and_batch_count() -> None:
    trainer = _trainer(epochs=1, batch_size=16, drop_last=True)
    trainer.fit(_data(40))
    assert trainer.global_step == 2
    with pytest.raises(ConfigError, match="batch_size"):
        _trainer(epochs=1, batch_size=64, drop_last=True).fit(_data(40))


# --------------------------------------------------------------------------------------- callbacks
class Hooks(Callback):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_fit_start(self, trainer):
        self.calls.append("fit_start")

    def on_epoch_start(self, trainer, epoch):
        self.calls.append(f"epoch_start{epoch}")

    def on_after_backward(self, trainer):
        self.calls.append("after_backward")

    def on_step_end(self, trainer):
        self.calls.append(f"step{trainer.global_step}")

    def on_epoch_end(self, trainer, epoch, logs):
        self.calls.append(f"epoch_end{epoch}")
        logs["custom"] = epoch * 10

    def on_fit_end(self, trainer):
        self.calls.append("fit_end")


def test_callback_order_and_logs() -> None:
    cb = Hooks()
    history = _trainer(epochs=2, batch_size=60, callbacks=[cb]).fit(_data())
    assert cb.calls == [
        "fit_start",
        "epoch_start0", "after_backward", "step1", "after_backward", "step2", "epoch_end0",
        "epoch_start1", "after_backward", "step3", "after_backward", "step4", "epoch_end1",
        "fit_end",
    ]  # fmt: skip
    assert [r["custom"] for r in history] == [0, 10]


class Mask(Callback):
    """Pruning as DST does: masked weights of the first layer get no gradient and are held at zero after
    every optimiser step (weight decay and momentum would otherwise move them)."""

    def __init__(self, mask: torch.Tensor, weights_too: bool = True) -> None:
        self.mask, self.weights_too = mask, weights_too

    def on_after_backward(self, trainer):
        trainer.model[0].weight.grad.mul_(self.mask)

    def on_step_end(self, trainer):
        if self.weights_too:
            with torch.no_grad():
                trainer.model[0].weight.mul_(self.mask)


class L2(Callback):
    def extra_loss(self, trainer, outputs, targets):
        return 0.5 * trainer.model[0].weight.pow(2).sum()


@pytest.mark.parametrize(
    "optimizer",
    [
        functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9, weight_decay=0.05),
        functools.partial(torch.optim.Adam, lr=2e-2, weight_decay=0.05),
    ],
    ids=["sgd_wd", "adam_wd"],
)
def test_masking_holds_pruned_weights_at_zero_under_weight_decay(optimizer) -> None:
    mask = (torch.rand(16, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    model = _model()
    before = model[0].weight.detach().clone()
    _trainer(model, optimizer=optimizer, callbacks=[Mask(mask)]).fit(_data())
    after = model[0].weight.detach()
    assert torch.equal(after[mask == 0], torch.zeros_like(after[mask == 0]))
    assert (after[mask == 1] != before[mask == 1]).all()
    # masking only the gradients is not enough with weight decay: the pruned weights move
    grad_only = _model()
    _trainer(grad_only, optimizer=optimizer, callbacks=[Mask(mask, weights_too=False)]).fit(_data())
    moved = grad_only[0].weight.detach()[mask == 0]
    assert (moved != before[mask == 0]).all() and (moved != 0).all()


def test_extra_loss() -> None:
    plain, reg = _model(), _model()
    _trainer(plain).fit(_data())
    h = _trainer(reg, callbacks=[L2()]).fit(_data())
    assert "train_extra_loss" in h[0] and h[0]["train_extra_loss"] > 0
    assert reg[0].weight.norm() < plain[0].weight.norm()


def test_grad_clip_bounds_each_update() -> None:
    model = _model()
    snaps: list[torch.Tensor] = []

    class Snap(Callback):
        def on_step_end(self, trainer):
            snaps.append(torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()]))

    start = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    _trainer(
        model, optimizer=functools.partial(torch.optim.SGD, lr=1.0), grad_clip=1e-3, callbacks=[Snap()]
    ).fit(_data())
    steps = [start, *snaps]
    assert max((b - a).norm().item() for a, b in zip(steps, steps[1:])) <= 1e-3 * (1 + 1e-4)


def test_amp_on_cpu_runs_in_bfloat16() -> None:
    dtypes = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = _model()

        def forward(self, x):
            out = self.net(x)
            dtypes.append(out.dtype)
            return out

    history = _trainer(Probe(), amp=True, epochs=2).fit(_data(), _data())
    assert torch.bfloat16 in dtypes
    assert all(math.isfinite(r["train_loss"]) for r in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_tensorboard_scalars(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _trainer(epochs=2, tb_dir=tmp_path / "tb").fit(_data(), _data())
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/accuracy", "val/loss", "val/accuracy", "lr"} <= tags
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2]


# ------------------------------------------------------------------------------------ exact resume
class Crash(Exception):
    pass


class CrashAt(Callback):
    def __init__(self, step: int | None) -> None:
        self.step = step

    def on_step_end(self, trainer):
        if trainer.global_step == self.step:
            raise Crash


class ScaledMask(nn.Module):
    """A parametrization as STDS/G2GNet use: W = original ⊙ M · s."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, w):
        return w * self.mask * 1.5


def _param_model() -> nn.Module:
    model = _model(dropout=0.2)
    mask = (torch.rand(16, 6, generator=torch.Generator().manual_seed(3)) < 0.5).float()
    parametrize.register_parametrization(model[0], "weight", ScaledMask(mask))
    return model


@pytest.mark.parametrize("parametrized", [False, True])
@pytest.mark.parametrize(("crash_step", "every"), [(10, None), (11, 2), (21, 3)])
def test_crash_and_resume_is_exact(
    tmp_path: Path, parametrized: bool, crash_step: int, every: int | None
) -> None:
    make = _param_model if parametrized else functools.partial(_model, dropout=0.2)
    sched = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.8)
    ref_model = make()
    ref = _trainer(ref_model, scheduler=sched).fit(_data(), _data())  # 8 steps per epoch, 24 in all

    crashed = make()
    with pytest.raises(Crash):
        _trainer(
            crashed,
            scheduler=sched,
            ckpt_dir=tmp_path,
            ckpt_every_steps=every,
            callbacks=[CrashAt(crash_step)],
        ).fit(_data(), _data())
    state = load_checkpoint(tmp_path / LAST_CHECKPOINT)
    assert 0 < state["position"]["step"] < crash_step
    resumed_model = make()  # a fresh process would rebuild the model from scratch
    trainer = _trainer(
        resumed_model, scheduler=sched, ckpt_dir=tmp_path, ckpt_every_steps=every, callbacks=[CrashAt(None)]
    )
    resumed = trainer.fit(_data(), _data())
    assert trainer.global_step == 24
    assert _same_history(ref, resumed)
    ref_w, res_w = _weights(ref_model), _weights(resumed_model)
    assert ref_w.keys() == res_w.keys()
    if parametrized:
        assert "0.parametrizations.weight.original" in ref_w
        assert torch.equal(ref_model[0].weight, resumed_model[0].weight)
    assert all(torch.equal(ref_w[k], res_w[k]) for k in ref_w)


# -------------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("epochs", 0),
        ("epochs", -2),
        ("epochs", 1.5),
        ("epochs", True),
        ("batch_size", 0),
        ("batch_size", "32"),
        ("seed", -1),
        ("grad_clip", 0.0),
        ("grad_clip", float("nan")),
        ("ckpt_every_steps", 0),
        ("eval_batch_size", -1),
        ("device", "tpu"),
        ("optimizer", 3),
        ("scheduler", "cosine"),
        ("amp", "yes"),
        ("callbacks", [object()]),
        ("loss_fn", "ce"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_value(key: str, value) -> None:
    with pytest.raises(ConfigError) as info:
        _trainer(**{key: value})
    msg = str(info.value)
    assert key in msg
    shown = value[0] if isinstance(value, list) else value
    assert repr(shown) in msg or type(shown).__name__ in msg


def test_non_scalar_and_nan_loss() -> None:
    with pytest.raises(ConfigError, match=r"shape \(16,\)"):
        _trainer(loss_fn=functools.partial(nn.functional.cross_entropy, reduction="none")).fit(_data())
    with pytest.raises(ConfigError, match="returned float"):
        _trainer(loss_fn=lambda o, t: 1.0).fit(_data())

    def nan_loss(outputs, targets):
        return nn.functional.cross_entropy(outputs, targets) * float("nan")

    with pytest.raises(RuntimeError, match="training loss is nan at epoch 0"):
        _trainer(loss_fn=nan_loss).fit(_data())
    with pytest.raises(ConfigError, match="train_set"):
        _trainer().fit(_data(0))


# ----------------------------------------------------------------------------------- resume identity
def test_a_run_with_another_lr_does_not_resume_this_runs_checkpoint(tmp_path: Path) -> None:
    from snnkit.errors import CheckpointError

    sgd = functools.partial(torch.optim.SGD, lr=1e-3)
    _trainer(optimizer=sgd, epochs=1, ckpt_dir=tmp_path).fit(_data())
    blob = (tmp_path / LAST_CHECKPOINT).read_bytes()
    with pytest.raises(CheckpointError, match="belongs to run_hash"):
        _trainer(optimizer=functools.partial(torch.optim.SGD, lr=1.0), epochs=1, ckpt_dir=tmp_path).fit(
            _data()
        )
    assert (tmp_path / LAST_CHECKPOINT).read_bytes() == blob


class Stateful(Callback):
    def __init__(self, k: int) -> None:
        self.k = k

    def state_dict(self):
        return {"k": self.k, "table": torch.arange(3) * self.k}


@pytest.mark.parametrize(
    "change",
    [
        {"optimizer": functools.partial(torch.optim.SGD, lr=2e-2)},
        {"optimizer": functools.partial(torch.optim.Adam, lr=2e-2, weight_decay=1e-4)},
        {"optimizer": functools.partial(torch.optim.Adam, lr=2e-2, betas=(0.8, 0.999))},
        {"scheduler": functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)},
        {"loss_fn": functools.partial(nn.functional.cross_entropy, label_smoothing=0.1)},
        {"loss_fn": nn.CrossEntropyLoss(label_smoothing=0.1)},
        {"model": _model(dropout=0.3)},
        {"model": nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.0), nn.Linear(16, 3))},
        {"callbacks": [Stateful(2)]},
        {"epochs": 4},
        {"batch_size": 8},
        {"seed": 1},
        {"drop_last": True},
        {"amp": True},
        {"grad_clip": 1.0},
    ],
    ids=lambda c: next(iter(c)),
)
def test_default_run_hash_covers_everything_that_changes_results(change: dict) -> None:
    base = dict(
        callbacks=[Stateful(1)], scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1)
    )
    same = _trainer(**base).run_hash
    assert _trainer(**base).run_hash == same  # fresh objects, same settings: same identity
    kw = {**base, **change}
    model = kw.pop("model", None)
    assert _trainer(model, **kw).run_hash != same


class Steps(nn.Module):
    """A model whose setting ``T`` is a plain attribute, absent from its repr (as G2GNet's T and encoding)."""

    def __init__(self, T: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.T, self.fc = T, nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(x) * self.T


def test_default_run_hash_sees_settings_that_no_repr_shows() -> None:
    # nn.CrossEntropyLoss(label_smoothing=0.1) and (weight=...) print as "CrossEntropyLoss()"
    plain = _trainer(loss_fn=nn.CrossEntropyLoss()).run_hash
    assert _trainer(loss_fn=nn.CrossEntropyLoss()).run_hash == plain
    assert _trainer(loss_fn=nn.CrossEntropyLoss(label_smoothing=0.1)).run_hash != plain
    assert _trainer(loss_fn=nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 1.0]))).run_hash != plain
    assert _trainer(Steps(25)).run_hash == _trainer(Steps(25)).run_hash
    assert _trainer(Steps(25)).run_hash != _trainer(Steps(50)).run_hash


# ------------------------------------------------------------------ interval checkpoints and progress
def test_time_interval_checkpoints_and_progress_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from snnkit.train import read_progress
    from snnkit.train import state as state_mod

    now = [0.0]
    monkeypatch.setattr(state_mod.time, "monotonic", lambda: now[0])
    saves: list[tuple[int, bool]] = []
    real_save = state_mod.RunState.save

    def spy(self, payload, *, epoch, step, done=False):
        saves.append((step, done))
        return real_save(self, payload, epoch=epoch, step=step, done=done)

    monkeypatch.setattr(state_mod.RunState, "save", spy)
    seen: list[dict] = []

    class Tick(Callback):
        def on_step_end(self, trainer):
            now[0] += 4.0  # every step takes 4 s
            seen.append(read_progress(tmp_path / "progress.json"))

    trainer = _trainer(
        epochs=2,
        ckpt_dir=tmp_path / "ck",
        ckpt_every_s=10,
        progress_file=tmp_path / "progress.json",
        callbacks=[Tick()],
    )
    assert _trainer(ckpt_dir=tmp_path / "x").ckpt_every_s == 600  # the default interval
    trainer.fit(_data())  # 8 steps per epoch
    # time saves whenever >= 10 s passed since the last save (not at an epoch's last step), plus epoch ends
    assert saves == [(3, False), (6, False), (8, False), (11, False), (14, False), (16, True)]
    final = read_progress(tmp_path / "progress.json")
    assert (final["phase"], final["epoch"], final["epochs"], final["step"], final["total_steps"]) == (
        "done",
        2,
        2,
        16,
        16,
    )
    assert final["resumed_from"] is None
    # at step 5's on_step_end the file shows step 4 (written after each step, once per second at most)
    assert seen[4]["step"] == 4 and seen[4]["steps_per_s"] == pytest.approx(0.25)  # 1 step per 4 s
    assert seen[4]["eta_s"] == pytest.approx(12 * 4.0)
    assert (trainer.steps_per_epoch, trainer.total_steps) == (8, 16)


def test_resumed_from_and_its_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(Crash):
        _trainer(ckpt_dir=tmp_path, ckpt_every_steps=5, callbacks=[CrashAt(12)]).fit(_data())
    trainer = _trainer(ckpt_dir=tmp_path, ckpt_every_steps=5, callbacks=[CrashAt(None)])
    assert trainer.resumed_from is None
    with caplog.at_level("INFO"):
        trainer.fit(_data())
    assert trainer.resumed_from == {
        "epoch": 1,
        "step": 10,
        "checkpoint": str(tmp_path / LAST_CHECKPOINT),
        "fallback": False,
    }
    assert "resumed from epoch 1, step 10" in caplog.text
    fresh = _trainer(ckpt_dir=tmp_path / "new")
    fresh.fit(_data())
    assert fresh.resumed_from is None


# ------------------------------------------------------------------------------ deterministic evaluation
class RateCoded(nn.Module):
    """Draws from the global torch RNG in forward (as rate encoding does), in training and evaluation."""

    def __init__(self) -> None:
        super().__init__()
        self.net = _model()

    def forward(self, x):
        return self.net(x * (torch.rand_like(x) < 0.7))


def test_evaluation_is_deterministic_and_does_not_perturb_training() -> None:
    data = _data()
    trainer = _trainer(RateCoded(), epochs=1)
    trainer.fit(data)
    torch.manual_seed(1)
    first, _ = trainer.predict(data)
    torch.manual_seed(2)  # whatever the global stream, the evaluation noise is the same
    second, _ = trainer.predict(data)
    assert torch.equal(first, second)
    assert trainer.evaluate(data) == trainer.evaluate(data)

    torch.manual_seed(3)
    before = torch.get_rng_state()
    trainer.evaluate(data)
    assert torch.equal(torch.get_rng_state(), before)  # the global stream is untouched

    with_val, without_val = RateCoded(), RateCoded()
    h1 = _trainer(with_val, epochs=2).fit(data, _data(seed=1))
    h2 = _trainer(without_val, epochs=2).fit(data)
    assert [r["train_loss"] for r in h1] == [r["train_loss"] for r in h2]
    assert all(torch.equal(a, b) for a, b in zip(_weights(with_val).values(), _weights(without_val).values()))


# ------------------------------------------------------------------------- schedule and augmentation
def _images(n: int = 48) -> TensorDataset:
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(n, 1, 6, 6, generator=gen)
    return TensorDataset(x, (x[:, 0, :, :3].mean((1, 2)) > x[:, 0, :, 3:].mean((1, 2))).long())


def _image_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(36, 12), nn.Tanh(), nn.Dropout(0.2), nn.Linear(12, 2))


class Schedule(Callback):
    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def on_fit_start(self, trainer):
        self.seen.append(("fit", trainer.steps_per_epoch, trainer.total_steps))

    def extra_loss(self, trainer, outputs, targets):
        gen = trainer.batch_generator
        self.seen.append(
            (trainer.epoch, trainer.global_step, gen.initial_seed(), torch.rand(1, generator=gen).item())
        )


def test_callbacks_know_the_schedule_and_get_a_seeded_batch_generator() -> None:
    a, b = Schedule(), Schedule()
    _trainer(epochs=2, batch_size=50, callbacks=[a]).fit(_data())  # 3 steps per epoch
    _trainer(epochs=2, batch_size=50, callbacks=[b]).fit(_data())
    assert a.seen[0] == ("fit", 3, 6)
    assert [(e, s) for e, s, *_ in a.seen[1:]] == [(0, 0), (0, 1), (0, 2), (1, 3), (1, 4), (1, 5)]
    assert a.seen == b.seen  # seeded from (seed, global_step): the same in every run
    assert len({seed for *_, seed, _ in a.seen[1:]}) == 6  # and a different stream for every batch
    c = Schedule()
    _trainer(epochs=2, batch_size=50, callbacks=[c], seed=1).fit(_data())
    assert c.seen[1][2] != a.seen[1][2]


def test_transform_applies_to_training_batches_only() -> None:
    from snnkit.data import random_crop_flip

    seen: list[torch.Tensor] = []

    def spy(inputs, generator):
        seen.append(inputs.clone())
        return random_crop_flip(inputs, generator, pad=1)

    model = _image_model()
    trainer = _trainer(model, epochs=1, batch_size=16, transform=spy)
    trainer.fit(_images())
    assert len(seen) == 3 and seen[0].shape == (16, 1, 6, 6)
    plain = _image_model()
    _trainer(plain, epochs=1, batch_size=16).fit(_images())
    assert not torch.equal(model[1].weight, plain[1].weight)  # the augmentation changed training
    out, _ = trainer.predict(_images())
    model.eval()
    assert torch.equal(out, model(_images().tensors[0]))  # evaluation sees the images as they are
    assert len(seen) == 3
    with pytest.raises(ConfigError, match="transform"):
        _trainer(transform="crop")
    assert _trainer(transform=spy).run_hash != _trainer().run_hash


@pytest.mark.parametrize("crash_step", [5, 7])
def test_resume_with_augmentation_is_bit_identical(tmp_path: Path, crash_step: int) -> None:
    from snnkit.data import random_crop_flip

    kw = dict(epochs=3, batch_size=16, transform=functools.partial(random_crop_flip, pad=1))
    ref_model = _image_model()
    ref = _trainer(ref_model, **kw).fit(_images())
    with pytest.raises(Crash):
        _trainer(
            _image_model(), ckpt_dir=tmp_path, ckpt_every_steps=2, callbacks=[CrashAt(crash_step)], **kw
        ).fit(_images())
    resumed_model = _image_model()
    resumed = _trainer(
        resumed_model, ckpt_dir=tmp_path, ckpt_every_steps=2, callbacks=[CrashAt(None)], **kw
    ).fit(_images())
    assert _same_history(ref, resumed)
    assert all(
        torch.equal(a, b) for a, b in zip(_weights(ref_model).values(), _weights(resumed_model).values())
    )


def test_a_finished_run_is_loaded_and_reports_done(tmp_path: Path) -> None:
    from snnkit.train import read_progress

    first = _trainer(ckpt_dir=tmp_path / "ck", epochs=1)
    first.fit(_data())
    again = _trainer(ckpt_dir=tmp_path / "ck", epochs=1, progress_file=tmp_path / "p.json")
    again.fit(_data())
    progress = read_progress(tmp_path / "p.json")
    assert (progress["phase"], progress["step"], progress["total_steps"]) == ("done", 8, 8)
    assert progress["resumed_from"] == {"epoch": 1, "step": 8, "fallback": False}
    assert first.resumed_from is None and again.resumed_from["finished"] is True
    assert all(
        torch.equal(a, b) for a, b in zip(_weights(first.model).values(), _weights(again.model).values())
    )

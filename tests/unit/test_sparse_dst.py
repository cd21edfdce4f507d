"""snnkit.sparse.dst: prune/grow events of dynamic sparse training on MaskedLinear layers."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from snnkit.errors import ConfigError
from snnkit.models.g2g import G2GNet, spike_count_loss
from snnkit.sparse import MaskedLinear, build_masks, masked_layer_factory
from snnkit.sparse.dst import DynamicSparseTraining, prune_and_grow, rewire_count
from snnkit.sparse.hebbian import coactivity
from snnkit.train import Callback, Trainer

IN, HID, CLASSES = 16, 12, 3


def _net(seed: int = 0) -> G2GNet:
    torch.manual_seed(seed)
    masks = build_masks("random", [IN, HID, HID], groups=4, p_intra=0.8, p_inter=0.3, seed=seed)
    return G2GNet(IN, CLASSES, hidden_dim=HID, n_hidden=2, T=6, enc="current", enc_scale=5.0,
                  layer_factory=masked_layer_factory(masks))


def _data(n: int = 48) -> TensorDataset:
    gen = torch.Generator().manual_seed(9)
    x = torch.rand(n, IN, generator=gen)
    return TensorDataset(x, (x[:, :3].argmax(1)))


def _fit(model: nn.Module, callbacks: list[Callback], epochs: int = 1) -> Trainer:
    trainer = Trainer(model, loss_fn=spike_count_loss,
                      optimizer=functools.partial(torch.optim.Adam, lr=1e-2, weight_decay=1e-2),
                      epochs=epochs, batch_size=8, seed=1, callbacks=callbacks, progress=False, device="cpu")
    trainer.fit(_data())
    return trainer


# ------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("kwargs, key", [
    ({"prune": "magnitude"}, "prune"), ({"grow": "set"}, "grow"), ({"regrow": "old"}, "regrow"),
    ({"fraction": 0.0}, "fraction"), ({"fraction": 1.5}, "fraction"), ({"fraction": True}, "fraction"),
    ({"every": 0}, "every"), ({"every": 2.5}, "every"), ({"window": 0}, "window"), ({"seed": "a"}, "seed"),
])
def test_bad_settings_are_config_errors_naming_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key) as err:
        DynamicSparseTraining(**kwargs)
    assert err.value.key == key


def test_dst_on_the_dense_model_is_a_config_error() -> None:
    dense = G2GNet(IN, CLASSES, hidden_dim=HID, n_hidden=2, T=4)
    with pytest.raises(ConfigError, match="MaskedLinear"):
        DynamicSparseTraining().attach(dense)


def test_hebbian_rules_on_an_unknown_model_need_post_names() -> None:
    model = nn.Sequential(MaskedLinear(4, 3, torch.ones(3, 4, dtype=torch.bool)), nn.ReLU())
    with pytest.raises(ConfigError, match="post"):
        DynamicSparseTraining(grow="hebb").attach(model)
    assert DynamicSparseTraining(grow="hebb", post={"0": "1"}).attach(model) == ["0", "1"]
    assert DynamicSparseTraining(prune="set", grow="random").attach(model) == []  # nothing to watch


def test_g2gnet_layers_are_paired_with_the_lif_that_follows() -> None:
    dst = DynamicSparseTraining()
    watched = dst.attach(_net())
    assert dst.post_of == {"layers.0": "neurons.0", "layers.1": "neurons.1"}
    assert watched == ["layers.0", "layers.1", "neurons.0", "neurons.1"]


# ------------------------------------------------------------------------------------------ the rules
def test_rewire_count_is_floor_of_fraction_times_active_capped_by_inactive() -> None:
    assert rewire_count(70, 100, 0.1) == 7
    assert rewire_count(69, 100, 0.1) == 6
    assert rewire_count(100, 3, 0.1) == 3
    assert rewire_count(30, 10, 0.1) == 3  # 0.1·30 is 3.0000000000000004 in floats


def test_prune_and_grow_turns_off_lowest_and_on_highest() -> None:
    mask = torch.tensor([[True, True, False], [True, False, False]])
    prune_score = torch.tensor([[5.0, 1.0, 0.0], [3.0, 0.0, 0.0]])  # active: 5, 1, 3 → prune 1, 3
    grow_score = torch.tensor([[0.0, 0.0, 0.2], [0.0, 0.9, 0.5]])  # inactive: .2, .9, .5 → grow .9, .5
    new, pruned, grown = prune_and_grow(mask, 2, prune_score, grow_score)
    assert new.tolist() == [[True, False, False], [False, True, True]]
    assert sorted(pruned.tolist()) == [1, 3] and sorted(grown.tolist()) == [4, 5]


def _layer(seed: int = 0, out: int = 10, inp: int = 20) -> MaskedLinear:
    gen = torch.Generator().manual_seed(seed)
    return MaskedLinear(inp, out, torch.rand(out, inp, generator=gen) < 0.4)


def test_set_prunes_exactly_the_smallest_magnitudes_and_keeps_density() -> None:
    layer = _layer()
    model = nn.Sequential(layer)
    before_mask, before_w = layer.mask.clone(), layer.weight.detach().clone()
    active = int(before_mask.sum())
    k = active // 10
    dst = DynamicSparseTraining(prune="set", grow="random", fraction=0.1)
    dst.attach(model)
    dst.rewire()
    assert int(layer.mask.sum()) == active  # density constant
    magnitudes = before_w.abs()[before_mask]
    threshold = magnitudes.sort().values[k - 1]
    pruned = before_mask & ~layer.mask
    assert int(pruned.sum()) == k
    assert (before_w.abs()[pruned] <= threshold).all()
    assert (before_w.abs()[before_mask & layer.mask] >= threshold).all()
    grown = layer.mask & ~before_mask
    assert int(grown.sum()) == k
    assert torch.count_nonzero(layer.weight[grown]) == 0  # regrow="zero"
    assert torch.count_nonzero(layer.weight[~layer.mask]) == 0


def _inject_scores(dst: DynamicSparseTraining, name: str, scores: torch.Tensor) -> None:
    """Hand-made statistics whose cosine is ``scores`` (unit norms)."""
    out, inp = scores.shape
    dst.stats[name].load_state_dict({
        "cross": scores[None].clone(), "post_sq": torch.ones(1, out), "pre_sq": torch.ones(1, inp),
        "next": torch.tensor(0), "filled": torch.tensor(1),
    })


def test_hebb_grow_picks_the_highest_scores_and_hebb_prune_the_lowest() -> None:
    layer = _layer(1)
    dst = DynamicSparseTraining(prune="hebb", grow="hebb", post={"0": "1"})
    dst.attach(nn.Sequential(layer, nn.Identity()))
    gen = torch.Generator().manual_seed(5)
    scores = torch.rand(layer.mask.shape, generator=gen) * 2 - 1
    _inject_scores(dst, "0", scores)
    before = layer.mask.clone()
    k = rewire_count(int(before.sum()), int((~before).sum()), 0.1)
    dst.rewire()
    expected_grown = torch.zeros_like(before).view(-1)
    inactive = (~before).view(-1).nonzero().squeeze(1)
    expected_grown[inactive[scores.view(-1)[inactive].argsort(descending=True)[:k]]] = True
    assert torch.equal(layer.mask & ~before, expected_grown.view(before.shape))
    active = before.view(-1).nonzero().squeeze(1)
    expected_pruned = torch.zeros_like(before).view(-1)
    expected_pruned[active[scores.view(-1)[active].argsort()[:k]]] = True
    assert torch.equal(before & ~layer.mask, expected_pruned.view(before.shape))


def test_regrow_keep_restores_the_value_at_pruning() -> None:
    layer = _layer(2, out=4, inp=5)
    layer.set_mask(torch.tensor([[1, 1, 1, 1, 1]] * 2 + [[0, 0, 0, 0, 0]] * 2))
    with torch.no_grad():
        layer.weight.copy_(torch.arange(1.0, 21.0).view(4, 5) * layer.mask)
    dst = DynamicSparseTraining(prune="set", grow="hebb", regrow="keep", fraction=0.5, post={"0": "1"})
    dst.attach(nn.Sequential(layer, nn.Identity()))
    first = torch.zeros(4, 5)
    first[2:] = 1.0  # grow into the empty rows first: the pruned weights 1..5 become dormant
    _inject_scores(dst, "0", first)
    dst.rewire()
    assert layer.mask[:1].sum() == 0 and int(layer.mask.sum()) == 10
    second = torch.zeros(4, 5)
    second[0] = 1.0  # now grow row 0 back
    _inject_scores(dst, "0", second)
    dst.rewire()
    assert layer.weight[0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


# ------------------------------------------------------------------------------------------ in training
@pytest.mark.parametrize("prune, grow", [("set", "hebb"), ("hebb", "hebb"), ("random", "random"), ("set", "random")])
def test_density_is_constant_and_masked_weights_stay_zero_under_adam_weight_decay(prune: str, grow: str) -> None:
    model = _net()
    masks_before = [m.mask.clone() for m in model.layers]
    dst = DynamicSparseTraining(every=2, prune=prune, grow=grow, seed=3)
    trainer = _fit(model, [dst], epochs=2)  # 12 steps → 6 events
    assert trainer.history.last()["dst_events"] == 6
    for layer, before in zip(model.layers, masks_before):
        assert int(layer.mask.sum()) == int(before.sum())
        assert not torch.equal(layer.mask, before)
        assert torch.count_nonzero(layer.weight[~layer.mask]) == 0
        moments = trainer.optimizer.state[layer.weight]
        assert torch.count_nonzero(moments["exp_avg"][~layer.mask]) == 0
        assert torch.count_nonzero(moments["exp_avg_sq"][~layer.mask]) == 0
    active = {name: int(b.sum()) for name, b in zip(("layers.0", "layers.1"), masks_before)}
    assert len(dst.events) == 12
    for event in dst.events:
        assert event["pruned"] == event["grown"] == active[event["layer"]] // 10 > 0
        assert event["active"] == active[event["layer"]]


class _Spy(Callback):
    """Runs after DST: the co-activity of each masked layer's input and its LIF's spikes this step."""

    def __init__(self) -> None:
        self.seen: dict[str, torch.Tensor] = {}

    def watch(self, model: nn.Module) -> list[str]:
        return ["layers.0", "layers.1", "neurons.0", "neurons.1"]

    def on_step_end(self, trainer: Trainer) -> None:
        for i in range(2):
            a = trainer.activity[f"layers.{i}"].input
            b = trainer.activity[f"neurons.{i}"].output
            self.seen[f"layers.{i}"] = coactivity(a, b)


def test_hebbian_statistics_pair_the_layer_input_with_the_following_lif_spikes() -> None:
    model = _net()
    dst = DynamicSparseTraining(every=100, prune="set", grow="hebb")  # no event: only statistics
    spy = _Spy()
    _fit(model, [dst, spy])
    assert (-6) % 100 >= dst.window  # step 6 is not within the window before an event ...
    dst2 = DynamicSparseTraining(every=6, prune="set", grow="hebb", fraction=0.0001)  # k = 0: no change
    spy2 = _Spy()
    _fit(_net(), [dst2, spy2])
    for name in ("layers.0", "layers.1"):
        torch.testing.assert_close(dst2.stats[name].score(), spy2.seen[name])
        assert dst.stats[name].score() is None  # ... so nothing was recorded


def test_state_dict_round_trip_gives_identical_next_events() -> None:
    def make() -> tuple[nn.Module, DynamicSparseTraining]:
        model = _net()
        dst = DynamicSparseTraining(prune="random", grow="random", seed=11)
        dst.attach(model)
        return model, dst

    model_a, a = make()
    a.rewire()
    model_b, b = make()
    b.load_state_dict(a.state_dict())
    model_b.load_state_dict(model_a.state_dict())
    a.rewire()
    b.rewire()
    for la, lb in zip(model_a.layers, model_b.layers):
        assert torch.equal(la.mask, lb.mask)
    model_c, c = make()  # without the generator state the second event differs
    model_c.load_state_dict(model_a.state_dict())
    c.rewire()
    assert any(not torch.equal(la.mask, lc.mask) for la, lc in zip(model_b.layers, model_c.layers))


# ------------------------------------------------------------------------------------------ SIGKILL resume
def test_sigkill_mid_dst_then_resume_is_bit_identical(tmp_path) -> None:
    """A real process (tests/unit/_scripts/dst_resume_train.py: DST every 3 steps with a random prune
    rule and a 2-batch Hebbian grow rule, checkpoints every 2 steps) is killed at seeded random steps,
    rerun to completion and compared with an uninterrupted run: weights, masks, Adam state, history,
    DST event log, generator state and statistics."""
    import random
    import subprocess
    import sys
    from pathlib import Path

    from _scripts import sigkill

    script = Path(__file__).parent / "_scripts" / "dst_resume_train.py"

    def cmd(name: str, progress: Path | None = None, delay: float = 0.0) -> list[str]:
        out = [sys.executable, str(script), "--ckpt-dir", str(tmp_path / name), "--out", str(tmp_path / f"{name}.pt"),
               "--delay", str(delay)]
        return out + (["--progress", str(progress)] if progress is not None else [])

    def run(name: str) -> tuple[dict, str]:
        res = subprocess.run(cmd(name), env=sigkill.env(), capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        return torch.load(tmp_path / f"{name}.pt", weights_only=True), res.stderr

    reference, _ = run("ref")
    assert reference["global_step"] == 18 and len(reference["events"]) == 12
    assert any(torch.count_nonzero(s["cross"]) > 0 for s in reference["stats"].values()), "no activity"
    chooser = random.Random(6)
    for trial in range(2):
        name, progress = f"t{trial}", tmp_path / f"p{trial}"
        step = chooser.randint(4, 16)
        sigkill.kill_after(cmd(name, progress, delay=0.01), progress, step, chooser.uniform(0.0, 0.01))
        result, log = run(name)
        assert "resumed from epoch" in log
        for key in reference["model"]:
            assert torch.equal(reference["model"][key], result["model"][key]), f"{key} differs (kill at {step})"
        sa, sb = reference["optimizer"]["state"], result["optimizer"]["state"]
        for pid in sa:
            for k in sa[pid]:
                assert torch.equal(torch.as_tensor(sa[pid][k]), torch.as_tensor(sb[pid][k])), (pid, k)
        strip = [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in reference["history"]]
        assert strip == [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in result["history"]]
        assert result["events"] == reference["events"]
        assert torch.equal(result["generator"], reference["generator"])
        for name_, s in reference["stats"].items():
            for k, v in s.items():
                assert torch.equal(v, result["stats"][name_][k]), (name_, k)


# ------------------------------------------------------------------------------------------ torchrun
def test_every_rank_holds_the_same_masks_after_hebbian_dst_under_two_gloo_processes(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    from _scripts import sigkill

    script = Path(__file__).parent / "_scripts" / "ddp_dst_train.py"
    out = tmp_path / "dst.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", str(script),
           "--out", str(out)]
    res = subprocess.run(cmd, env=sigkill.env(), capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    r0, r1 = (torch.load(f"{out}.rank{r}", weights_only=True) for r in (0, 1))
    assert (r0["rank"], r1["rank"], r0["world_size"]) == (0, 1, 2)
    assert r0["events"] == r1["events"] == 8  # 4 events × 2 layers
    for i in range(2):
        assert not torch.equal(r0["masks"][i], r0["initial_masks"][i])  # DST did rewire
        assert torch.equal(r0["masks"][i], r1["masks"][i])
        assert torch.equal(r0["weights"][i], r1["weights"][i])
        # each rank saw only its shard: its local statistics differ, so the agreement needs the reduction
        assert not torch.allclose(r0["local_scores"][i], r1["local_scores"][i])

"""snnkit.models.stdp_nets: the SpykeTorch-family networks (Mozafari et al., Pattern Recognition 94:87-95,
2019, and the seed repository's four models) checked against the public wave operators.

* shapes of every model against the seed's fact sheet;
* the last-step inference fast path (:meth:`StdpNet.decide`) == the full waves (:meth:`StdpNet.decide_full`),
  and the fall-back to the full path when a weight is negative;
* the first-spike-time hot path (``features_times``, ``stdp_step``, ``rstdp_forward``/``rstdp_step``) == the
  reference built from ``fire`` / ``pointwise_inhibition`` / ``get_k_winners`` / ``stdp`` / ``r_stdp``;
* the count-domain k-winners (keyed fast path and general path) against a plain loop (hypothesis);
* the ``stdp_mnist`` schema and the construction errors.
"""

from __future__ import annotations

import copy
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from snnkit.config import validate
from snnkit.errors import ConfigError
from snnkit.models.stdp_nets import (
    MODELS,
    LayerSpec,
    StdpNet,
    _pooled_input,
    from_times,
    model_phases,
    to_times,
)
from snnkit.stdp import functional as sf
from snnkit.stdp import learning as sl

T = 15


def _times(seed: int, b: int, c: int = 6, h: int = 28, w: int = 28, t: int = T, lo: float = 0.2) -> torch.Tensor:
    """uint8 first-spike times ``[B, C, H, W]`` (``t`` = silent); sample ``i`` is silent with a probability
    growing from ``lo`` to 0.97 across the batch, so the samples differ in how much reaches the top."""
    g = torch.Generator().manual_seed(seed)
    first = torch.randint(0, t, (b, c, h, w), generator=g)
    p_silent = torch.linspace(lo, 0.97, b).view(b, 1, 1, 1)
    silent = torch.rand(b, c, h, w, generator=g) < p_silent
    return torch.where(silent, t, first).to(torch.uint8)


def _reweight(net: StdpNet, seed: int) -> StdpNet:
    """Redraw every weight as U(0, 1)³ (non-negative: the fast path stays valid; skewed to small values), so
    the layers' thresholds and winners vary more than with the N(0.8, 0.05) start."""
    g = torch.Generator().manual_seed(seed)
    for name in net.layer_names:
        w = net.weight(name)
        w.copy_(torch.rand(w.shape, generator=g) ** 3)
    return net


# ------------------------------------------------------------------------------------------ shapes
EXPECTED_SHAPES = {
    "mozafari2018": [(30, 14, 14), (250, 4, 4), (200, 4, 4)],
    "deep2024": [(30, 14, 14), (150, 7, 7), (250, 2, 2), (200, 2, 2)],
    "deepr2024": [(30, 14, 14), (150, 7, 7), (250, 2, 2), (200, 2, 2)],
    "deepr2024_greedy": [(30, 14, 14), (150, 7, 7), (250, 2, 2), (200, 2, 2)],
    "inception2024": [(30, 14, 14), (75, 7, 7), (300, 2, 2), (200, 2, 2)],
}


def test_every_model_is_covered():
    assert set(MODELS) == set(EXPECTED_SHAPES) | {"majority2024"}


@pytest.mark.parametrize("model", sorted(EXPECTED_SHAPES))
def test_block_output_shapes_match_the_fact_sheet(model):
    net = StdpNet(model)
    shapes = [net.output_shape(i) for i in range(len(net.arch.blocks))]
    assert shapes == EXPECTED_SHAPES[model]
    # and the waves have them: the decision potentials at the last step
    times = _times(0, 2)
    last = net.features_times(times, len(net.arch.blocks) - 1)
    assert tuple(last.shape[1:]) == shapes[-2]
    dec = net.arch.blocks[-1].layers[0].name
    assert tuple(net.decision_potentials(dec, (last < T).float()).shape[1:]) == shapes[-1]


def test_majority_branches_are_6_4_and_2():
    net = StdpNet("majority2024")
    assert net.output_shape(1) == (250, 4, 4)
    last = (net.features_times(_times(1, 2), 2) < T).float()
    sizes = {name: tuple(net.decision_potentials(name, last).shape[1:]) for name in ("conv3_3", "conv3_5", "conv3_7")}
    assert sizes == {"conv3_3": (200, 6, 6), "conv3_5": (200, 4, 4), "conv3_7": (200, 2, 2)}
    assert [s.out_size(4) for s in net.arch.blocks[2].layers] == [6, 4, 2]


def test_phases_per_model():
    assert model_phases("mozafari2018") == ("l1", "l2", "l3")
    assert model_phases("majority2024") == ("l1", "l2", "l3")
    assert len(model_phases("deep2024")) == len(model_phases("inception2024")) == 4
    assert len(model_phases("deepr2024")) == len(model_phases("deepr2024_greedy")) == 4


def test_seeded_weights_and_rstdp_layers_start_inside_their_bounds():
    a, b, c = StdpNet("mozafari2018", seed=3), StdpNet("mozafari2018", seed=3), StdpNet("mozafari2018", seed=4)
    assert all(torch.equal(a.weight(n), b.weight(n)) for n in a.layer_names)
    assert not torch.equal(a.weight("conv1"), c.weight("conv1"))
    w = a.weight("conv3")
    assert bool((w >= 0.2).all()) and bool((w <= 0.8).all())  # compared in float32


@pytest.mark.parametrize("model", ["mozafari2018", "deep2024"])
def test_stdp_layers_start_inside_their_bounds(model):
    net = StdpNet(model, seed=0)
    for name, spec in net.specs.items():
        w = net.weight(name)
        lb, ub = spec.bounds if spec.threshold is not None else spec.rstdp_bounds
        assert bool((w >= lb).all()) and bool((w <= ub).all()), name


# ----------------------------------------------------------------------- decide == decide_full
def _assert_same_decisions(a: dict, b: dict) -> None:
    assert torch.equal(a["pred"], b["pred"])
    assert torch.equal(a["branch_pred"], b["branch_pred"])
    # the fast path sums the decision potentials in another order (the unrolled matrix): equal to round-off of
    # float32 sums of a few thousand terms (seen up to 1.5e-5 relative on an AVX2-only CPU, where oneDNN picks
    # other kernels than on AVX-512)
    torch.testing.assert_close(a["scores"], b["scores"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("reweight", [False, True])
def test_decide_fast_path_equals_full_waves(model, reweight):
    net = StdpNet(model, seed=2)
    if reweight:
        _reweight(net, 7)
    wave = from_times(_times(11, 8, lo=0.6), T)
    assert wave.shape == (8, T, 6, 28, 28)
    fast, full = net.decide(wave), net.decide_full(wave)
    _assert_same_decisions(fast, full)
    n_branches = len(net.arch.blocks[-1].layers)
    assert fast["branch_pred"].shape == (8, n_branches) and fast["scores"].shape == (8, 10)
    assert int((fast["pred"] >= 0).sum()) >= 2 and int((fast["pred"] < 0).sum()) >= 1  # decided and silent


@given(size=st.integers(3, 16), kernel=st.integers(1, 5), sides=st.tuples(*[st.integers(0, 2)] * 4),
       window=st.integers(1, 4), stride=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_pooled_input_crop_keeps_every_pooled_output(size, kernel, sides, window, stride, seed):
    spec = LayerSpec("c", 2, 3, kernel, 0.0, pad=sides, pool=(window, stride))
    out = size + sides[0] + sides[1] - kernel + 1
    if out < window or size + sides[2] + sides[3] - kernel + 1 != out:
        return  # no such layer (kernel or window larger than the map; the maps here are square)
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(2, 2, size, size, generator=g) < 0.5).float()
    w = torch.randint(0, 16, (3, 2, kernel, kernel), generator=g).float() / 16  # dyadic: every sum exact
    ref = F.max_pool2d(F.conv2d(F.pad(x, spec.sides), w), *spec.pool)
    rows, cols, crop_sides = _pooled_input(spec, size, size)
    assert rows <= size and cols <= size and all(0 <= a <= b for a, b in zip(crop_sides, spec.sides))
    got = F.max_pool2d(F.conv2d(F.pad(x[:, :, :rows, :cols], crop_sides), w), *spec.pool)
    assert torch.equal(got, ref)


def test_pooled_input_crops_mozafari2018_layer2():
    spec = StdpNet("mozafari2018").specs["conv2"]  # 3x3, pad 1, 14x14 -> pool 3 stride 3 reads 12x12
    assert _pooled_input(spec, 14, 14) == (13, 13, (1, 0, 1, 0))
    assert _pooled_input(StdpNet("mozafari2018").specs["conv1"], 28, 28) == (28, 28, (2, 2, 2, 2))


@pytest.mark.parametrize("model", sorted(MODELS))
def test_decision_potentials_equal_the_padded_convolution(model):
    net = _reweight(StdpNet(model, seed=4), 3)
    c, h, w = net.output_shape(len(net.arch.blocks) - 2)
    x = (torch.rand(6, c, h, w, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    for spec in net.arch.blocks[-1].layers:
        ref = F.conv2d(F.pad(x, spec.sides), net.weight(spec.name))
        torch.testing.assert_close(net.decision_potentials(spec.name, x), ref, rtol=1e-5, atol=1e-4)
    if model == "mozafari2018":  # 250 x 4 x 4 -> 200 x 4 x 4: the unrolled matrix, without the padding
        assert net._decision_matrix("conv3", h, w).shape == (250 * 16, 200 * 16)


def test_the_decision_matrix_follows_every_weight_update():
    net = StdpNet("mozafari2018", seed=0)
    x = (torch.rand(3, 250, 4, 4, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    before = net.decision_potentials("conv3", x)
    net.weight("conv3")[5].mul_(0.5)  # in place, as R-STDP updates it
    after = net.decision_potentials("conv3", x)
    ref = F.conv2d(F.pad(x, net.specs["conv3"].sides), net.weight("conv3"))
    torch.testing.assert_close(after, ref, rtol=1e-5, atol=1e-4)
    assert not torch.allclose(after, before)
    net.load_state_dict(StdpNet("mozafari2018", seed=9).state_dict())  # copied into the same buffers
    ref = F.conv2d(F.pad(x, net.specs["conv3"].sides), net.weight("conv3"))
    torch.testing.assert_close(net.decision_potentials("conv3", x), ref, rtol=1e-5, atol=1e-4)


def test_copies_leave_the_decision_matrix_cache_behind():
    net = StdpNet("mozafari2018", seed=0)
    x = (torch.rand(2, 250, 4, 4, generator=torch.Generator().manual_seed(3)) < 0.5).float()
    before = net.decision_potentials("conv3", x)
    assert "_dense_cache" in net.__dict__
    twin = copy.deepcopy(net)
    assert "_dense_cache" not in twin.__dict__ and "_dense_cache" in net.__dict__
    torch.testing.assert_close(twin.decision_potentials("conv3", x), before)


def test_decide_with_a_negative_weight_takes_the_full_path(monkeypatch):
    net = _reweight(StdpNet("mozafari2018", seed=0), 5)
    net.weight("conv2")[3, 4, 1, 1] = -0.7
    wave = from_times(_times(12, 5), T)
    expected = net.decide_full(wave)

    def _no_fast_path(*args, **kwargs):
        raise AssertionError("decide used the last-step path with a negative weight")

    monkeypatch.setattr(net, "decide_from", _no_fast_path)
    _assert_same_decisions(net.decide(wave), expected)


# ------------------------------------------------------------------------------ time codes
def test_to_times_from_times_roundtrip():
    times = _times(3, 2, c=3, h=5, w=4)
    wave = from_times(times, T)
    assert wave.shape == (2, T, 3, 5, 4)
    assert torch.equal(to_times(wave), times)
    assert bool((wave[:, 1:] >= wave[:, :-1]).all())  # cumulative
    assert torch.equal(wave.sum(1), (T - times.long()).float())  # a neuron spikes from its first step on


@pytest.mark.parametrize("model", sorted(MODELS))
def test_features_times_equals_the_full_waves(model):
    net = _reweight(StdpNet(model, seed=1), 9)
    times = _times(21, 4)
    for upto in range(len(net.arch.blocks)):
        got = net.features_times(times, upto)
        want = to_times(net.features(from_times(times, T), upto))
        assert got.dtype == torch.uint8 and torch.equal(got, want), f"block {upto}"


# --------------------------------------------------------------------------- STDP step
@pytest.fixture(params=[True, False], ids=["compiled", "tensor"])
def compiled(request) -> bool:
    """Both STDP-step paths on CPU: the compiled event loop (default) and the tensor operations."""
    return request.param


def _reference_stdp(net: StdpNet, name: str, times: torch.Tensor, rates: torch.Tensor):
    """The layer's STDP step through the public wave operators (SpykeTorch's order)."""
    spec = net.specs[name]
    wave = from_times(times, net.time_steps)
    pot = net.potentials(name, wave)
    _, thresholded = sf.fire(pot, spec.threshold, True)
    inhibited = sf.pointwise_inhibition(thresholded)
    spikes = inhibited.sign()
    winners = sf.get_k_winners(inhibited, spec.k, spec.radius, spikes)
    per_sample = rates.to(torch.float32)[:, None, :].expand(-1, spec.out_channels, -1)
    weight = sl.stdp(net.weight(name), sf.pad(wave, spec.sides), spikes, winners, per_sample,
                     stabilizer=spec.stabilizer, bounds=spec.bounds)
    return winners, weight


@pytest.mark.parametrize(("model", "name", "block"), [("mozafari2018", "conv1", 0), ("mozafari2018", "conv2", 1),
                                                      ("deepr2024", "conv3", 2)])
def test_stdp_step_equals_the_wave_reference(model, name, block, compiled):
    net = StdpNet(model, seed=4)
    net.compiled = compiled
    times = net.features_times(_times(31, 5), block)
    rates = torch.tensor([[0.004, -0.003], [0.008, -0.006], [0.016, -0.012], [0.15, -0.1125], [0.004, -0.003]])
    ref = copy.deepcopy(net)
    want_winners, want_weight = _reference_stdp(ref, name, times, rates)
    before = net.weight(name).clone()
    winners = net.stdp_step(name, times, rates)
    assert torch.equal(winners, want_winners)
    assert int((winners[..., 0] >= 0).sum()) >= 5, "too few winners for a meaningful check"
    assert torch.equal(net.weight(name), want_weight)
    assert not torch.equal(net.weight(name), before)
    lb, ub = net.specs[name].bounds
    learned = net.weight(name)[winners[..., 0][winners[..., 0] >= 0].unique()]
    assert bool((learned >= lb).all()) and bool((learned <= ub).all())  # the winners' kernels are clipped


# --------------------------------------------------------------------- count-domain k-winners
def _loop_winners(n: torch.Tensor, value: torch.Tensor, k: int, r: int) -> torch.Tensor:
    """Plain loop: rank by (count, value), ties to the lowest flat index; feature + window inhibition."""
    b, c, h, w = n.shape
    out = torch.full((b, k, 3), -1, dtype=torch.long)
    for s in range(b):
        alive = (n[s] > 0).clone()
        for i in range(k):
            best = None
            for f in range(c):
                for y in range(h):
                    for x in range(w):
                        if alive[f, y, x]:
                            key = (int(n[s, f, y, x]), float(value[s, f, y, x]))
                            if best is None or key > best[0]:
                                best = (key, (f, y, x))
            if best is None:
                break
            f, y, x = best[1]
            out[s, i] = torch.tensor([f, y, x])
            alive[f] = False
            if r > 0:
                alive[:, max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] = False
    return out


_IN_KEY_RANGE = [2.0 ** -10, 0.5, 1.0, 1.0, 3.25, 17.0, 1000.125, 4095.5]
_OUTSIDE = [0.0, -2.0, 1e-6, 4096.0, 5e4]


@st.composite
def _counts_values(draw, outside: bool):
    b, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    size = b * c * h * w
    n = draw(st.lists(st.integers(0, 3), min_size=size, max_size=size))  # few counts: many ties
    pool = _IN_KEY_RANGE + (_OUTSIDE if outside else [])
    v = draw(st.lists(st.sampled_from(pool), min_size=size, max_size=size))
    k, r = draw(st.integers(1, 4)), draw(st.integers(0, 2))
    return (torch.tensor(n).view(b, c, h, w), torch.tensor(v, dtype=torch.float32).view(b, c, h, w), k, r)


@given(_counts_values(outside=False))
def test_keyed_k_winners_equal_the_general_path_and_a_loop(case):
    n, value, k, r = case
    keyed = sf._k_winners_keyed(n, value, k, r)
    assert keyed is not None  # every live value is inside the key range
    with mock.patch.object(sf, "_k_winners_keyed", return_value=None):
        general = sf.k_winners_from_counts(n, value, k, r)
    assert torch.equal(keyed, general)
    assert torch.equal(keyed, _loop_winners(n, value, k, r))


@given(_counts_values(outside=True))
def test_k_winners_from_counts_with_values_outside_the_key_range(case):
    n, value, k, r = case
    live = value[n > 0]
    outside = bool(live.numel()) and (float(live.min()) < 2.0 ** -10 or float(live.max()) >= 4096.0)
    assert (sf._k_winners_keyed(n, value, k, r) is None) == outside
    assert torch.equal(sf.k_winners_from_counts(n, value, k, r), _loop_winners(n, value, k, r))


def test_k_winners_from_counts_equals_get_k_winners_on_waves():
    g = torch.Generator().manual_seed(0)
    pot = torch.randint(0, 3, (4, 6, 5, 7, 7), generator=g).float().cumsum(1)  # integer potentials: ties
    spikes = (pot > 4).float()
    n, first = sf.first_spike_times(spikes)
    value = pot.gather(1, first[:, None]).squeeze(1)
    for k, r in ((1, 0), (3, 1), (5, 2)):
        want = sf.get_k_winners(pot, k, r, spikes)
        assert torch.equal(sf.k_winners_from_counts(n, value, k, r), want)
        assert torch.equal(_loop_winners(n, value, k, r), want)


def test_pointwise_keep_equals_pointwise_inhibition():
    g = torch.Generator().manual_seed(1)
    pot = torch.randint(0, 3, (3, 6, 5, 6, 6), generator=g).float().cumsum(1)
    _, thr = sf.fire(pot, 3.0, True)
    n, first = sf.first_spike_times(thr.sign())
    value = thr.gather(1, first[:, None]).squeeze(1)
    kept = sf.pointwise_inhibition(thr)
    assert torch.equal(sf.pointwise_keep(n, value), (kept > 0).any(dim=1))


def test_keyed_k_winners_with_long_waves():
    lo = torch.tensor(2.0 ** -10, dtype=torch.float32)
    hi = torch.nextafter(lo, torch.tensor(1.0))
    n = torch.full((1, 2, 1, 1), 200)
    value = torch.stack([lo, hi]).view(1, 2, 1, 1)
    assert sf.k_winners_from_counts(n, value, 1, 0)[0, 0].tolist() == [1, 0, 0]


# ------------------------------------------------------------------------------------ R-STDP
def test_rstdp_decision_layer_equals_r_stdp_on_the_waves():
    net = StdpNet("mozafari2018", seed=6)
    times = net.features_times(_times(41, 6), 2)
    times[4] = T  # a silent sample: no decision, no update
    reward = torch.tensor([True, False, True, False, True, False])
    good, bad = (0.004, -0.003), (-0.004, 0.0005)
    # the reference on the waves: fire at the last step, one winner, R-STDP
    wave = from_times(times, T)
    pot = net.potentials("conv3", wave)
    spikes = sf.fire(pot, None)
    winners = sf.get_k_winners(pot, 1, 0, spikes)
    want = sl.r_stdp(net.weight("conv3"), sf.pad(wave, net.specs["conv3"].sides), spikes, winners, reward, good, bad,
                     stabilizer=False, bounds=(0.2, 0.8))
    out = net.rstdp_forward(2, times, ["conv3"])
    assert torch.equal(out["ctx"]["conv3"][2], winners)
    assert out["pred"][4] == -1 and bool((out["pred"][:4] >= 0).all())
    feature = winners[:, 0, 0]
    assert torch.equal(out["pred"], torch.where(feature >= 0, feature // 20, -1))
    before = net.weight("conv3").clone()
    net.rstdp_step(["conv3"], out, {"conv3": reward}, {"conv3": (good, bad)})
    assert torch.equal(net.weight("conv3"), want)
    changed = (net.weight("conv3") != before).flatten(1).any(1)
    assert set(changed.nonzero().flatten().tolist()) == set(feature[feature >= 0].tolist())


@pytest.mark.parametrize("rewarded", [True, False])
def test_rstdp_reward_potentiates_and_punishment_depresses(rewarded):
    net = StdpNet("mozafari2018", seed=6)
    times = net.features_times(_times(42, 1), 2)
    out = net.rstdp_forward(2, times, ["conv3"])
    f, y, x = out["ctx"]["conv3"][2][0, 0].tolist()
    assert f >= 0
    before = net.weight("conv3").clone()
    net.rstdp_step(["conv3"], out, {"conv3": torch.tensor([rewarded])}, {"conv3": ((0.004, -0.003), (-0.004, 0.0005))})
    fired = F.pad(times, (2, 2, 2, 2), value=T)[0, :, y:y + 5, x:x + 5] < T  # pre fired: the LTP side
    delta = net.weight("conv3")[f] - before[f]
    sign = 1 if rewarded else -1
    at_bound = net.weight("conv3")[f] == (0.8 if rewarded else 0.2)  # the side a pre spike pushes towards
    assert bool(((sign * delta > 0) | at_bound)[fired].all())
    assert bool((sign * delta[~fired] <= 0).all())
    assert int((delta != 0).sum()) > 0


def test_silent_samples_do_not_learn():
    net = StdpNet("mozafari2018", seed=6)
    times = torch.full((3, *net.output_shape(1)), T, dtype=torch.uint8)
    out = net.rstdp_forward(2, times, ["conv3"])
    assert out["pred"].tolist() == [-1, -1, -1]
    before = net.weight("conv3").clone()
    net.rstdp_step(["conv3"], out, {"conv3": torch.tensor([True, False, True])},
                   {"conv3": ((0.004, -0.003), (-0.004, 0.0005))})
    assert torch.equal(net.weight("conv3"), before)


def test_deepr_third_layer_rstdp_context_equals_the_wave_reference():
    net = StdpNet("deepr2024", seed=2)
    times = net.features_times(_times(43, 4), 2)
    spec = net.specs["conv3"]
    pot = net.potentials("conv3", from_times(times, T))
    _, thr = sf.fire(pot, spec.threshold, True)
    inhibited = sf.pointwise_inhibition(thr)
    want = sf.get_k_winners(inhibited, 15, 0, inhibited.sign())
    out = net.rstdp_forward(2, times, ["conv3", "conv4"])
    assert torch.equal(out["ctx"]["conv3"][2], want)
    assert int((want[..., 0] >= 0).sum()) > 0


@pytest.mark.parametrize("model", sorted(MODELS))
def test_rstdp_forward_decisions_equal_decide(model):
    net = _reweight(StdpNet(model, seed=3), 13)
    times = _times(51, 5)
    out, ref = net.rstdp_forward(0, times), net.decide_full(from_times(times, T))
    assert torch.equal(out["pred"], ref["pred"]) and torch.equal(out["branch_pred"], ref["branch_pred"])


@pytest.mark.parametrize(("votes", "answer"), [
    ([3, 3, 5], 3), ([3, 5, 3], 3), ([5, 3, 3], 3), ([7, 7, 7], 7),
    ([1, 2, 3], 2),      # no majority: the 5x5 branch (index 1)
    ([-1, 4, 4], 4), ([4, -1, 4], 4),
    ([-1, -1, 4], -1),   # one vote is no majority; the 5x5 branch is silent
    ([4, -1, -1], -1), ([-1, 6, -1], 6), ([-1, -1, -1], -1),
])
def test_majority_vote_rule(votes, answer):
    net = StdpNet("majority2024")
    assert [s.name for s in net.arch.blocks[-1].layers][1] == net.arch.fallback == "conv3_5"
    assert net.vote(torch.tensor([votes])).tolist() == [answer]


def test_majority_rstdp_each_branch_learns_from_its_own_winner():
    net = StdpNet("majority2024", seed=1)
    times = net.features_times(_times(44, 3), 2)
    out = net.rstdp_forward(2, times, ["conv3_3", "conv3_5", "conv3_7"])
    wave = from_times(times, T)
    for i, name in enumerate(("conv3_3", "conv3_5", "conv3_7")):
        pot = net.potentials(name, wave)
        winners = sf.get_k_winners(pot, 1, 0, sf.fire(pot, None))
        assert torch.equal(out["ctx"][name][2], winners)
        assert torch.equal(out["branch_pred"][:, i], torch.where(winners[:, 0, 0] >= 0, winners[:, 0, 0] // 20, -1))
    assert torch.equal(out["pred"], net.vote(out["branch_pred"]))


# ------------------------------------------------------------------------------ schema / errors
def test_schema_defaults_are_valid():
    params = validate("stdp_mnist", {})
    assert params["model"] == "mozafari2018" and len(params["epochs"]) == 3


@pytest.mark.parametrize("model", sorted(MODELS))
def test_schema_accepts_one_epoch_count_per_phase(model):
    n = len(model_phases(model))
    assert validate("stdp_mnist", {"model": model, "epochs": [1] * n})["epochs"] == [1] * n


@pytest.mark.parametrize(("model", "epochs"), [("deep2024", [2, 4, 100]), ("mozafari2018", [1, 1, 1, 1]),
                                               ("inception2024", [1]), ("mozafari2018", [1, -1, 3])])
def test_schema_rejects_epochs_of_the_wrong_length(model, epochs):
    with pytest.raises(ConfigError, match="epochs") as err:
        validate("stdp_mnist", {"model": model, "epochs": epochs})
    for phase in model_phases(model):
        assert repr(phase) in str(err.value)


def test_schema_rejects_an_unknown_model():
    with pytest.raises(ConfigError, match="model"):
        validate("stdp_mnist", {"model": "resnet2024", "epochs": [1, 1, 1]})
    with pytest.raises(ConfigError, match="model.*'nope'"):
        StdpNet("nope")
    with pytest.raises(ConfigError, match="model"):
        model_phases("nope")


@pytest.mark.parametrize(("kwargs", "key"), [({"k": 0}, "k"), ({"k": -2}, "k"), ({"threshold": -1.0}, "threshold"),
                                             ({"radius": -1}, "radius"), ({"kernel": 0}, "kernel"),
                                             ({"reward": (0.1, -0.1)}, "punish")])
def test_layer_spec_rejects_bad_values(kwargs, key):
    args = {"name": "convx", "in_channels": 6, "out_channels": 4, "kernel": 3, "threshold": 1.0}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=rf"convx\.{key}") as err:
        LayerSpec(**args)
    if key != "punish":
        assert repr(args[key]) in str(err.value)


def test_kernel_larger_than_its_input():
    with pytest.raises(ConfigError, match=r"convx\.kernel' = 5.*padded input size 3"):
        LayerSpec("convx", 6, 4, 5, 1.0).out_size(3)
    assert LayerSpec("convx", 6, 4, 5, 1.0, pad=1).out_size(3) == 1
    with pytest.raises(ConfigError, match=r"conv3_7\.kernel' = 7"):
        StdpNet("majority2024", input_size=16)  # the 2x2 map under pad 2 is 6 < 7
    StdpNet("majority2024", input_size=20)  # 3x3 + pad 2 = 7: fits
    with pytest.raises(ConfigError, match=r"conv1\.pool"):
        StdpNet("mozafari2018", input_size=1)


def test_decision_features_must_divide_into_classes():
    with pytest.raises(ConfigError, match="out_channels.*n_classes=7"):
        StdpNet("mozafari2018", n_classes=7)


@pytest.mark.parametrize("name", ["conv1", "conv2"])
def test_small_and_large_batch_hot_paths_agree(name, monkeypatch):
    """Batches of up to _SMALL_BATCH samples take the one-convolution path, larger ones the step loop: the
    counts and first-spike potentials are identical."""
    import snnkit.models.stdp_nets as nets

    net = nets.StdpNet("mozafari2018", seed=1)
    g = torch.Generator().manual_seed(2)
    shape = (6, 6, 28, 28) if name == "conv1" else (6, 30, 14, 14)
    times = torch.randint(0, 16, shape, generator=g, dtype=torch.uint8)
    times[times > 11] = 15
    times[:, :, :, : shape[-1] // 2] = 15  # a silent half: some neurons never fire
    monkeypatch.setattr(nets, "_SMALL_BATCH", 0)
    _, loop_counts, loop_values = net._layer_counts(name, times, values=True)
    monkeypatch.setattr(nets, "_SMALL_BATCH", 64)
    _, one_counts, one_values = net._layer_counts(name, times, values=True)
    assert torch.equal(loop_counts, one_counts) and torch.equal(loop_values, one_values)
    assert bool((loop_counts > 0).any()) and bool((loop_counts == 0).any())


# ------------------------------------------------------------- pointwise-compressed STDP forward
@given(_counts_values(outside=True))
def test_k_winners_pointwise_equals_k_winners_after_pointwise_inhibition(case):
    """On one surviving neuron per position (what pointwise inhibition leaves), the position-level rounds give
    the winners of the full count-domain rounds, ties included (values outside the key range too)."""
    n, value, k, r = case
    keep = sf.pointwise_keep(n, value)
    n_kept, v_kept = n * keep, torch.where(keep, value, 0.0)
    want = sf.k_winners_from_counts(n_kept, v_kept, k, r)
    feature = keep.long().argmax(dim=1)  # the kept feature (0 where the position is silent)
    n_pos = n_kept.amax(dim=1)
    v_pos = v_kept.gather(1, feature[:, None]).squeeze(1)
    got = sf.k_winners_pointwise(n_pos, feature, v_pos, n.shape[1], k, r)
    assert torch.equal(got, want)
    assert torch.equal(got, _loop_winners(n_kept, v_kept, k, r))
    b, h, w = n_pos.shape
    live = (n_pos > 0).reshape(-1).nonzero().squeeze(1)
    shuffled = live[torch.randperm(live.numel(), generator=torch.Generator().manual_seed(k + r))]  # any order
    ranked = sf.k_winners_ranked(shuffled // (h * w), shuffled % (h * w), feature.reshape(-1)[shuffled],
                                 n_pos.reshape(-1)[shuffled], v_pos.reshape(-1)[shuffled], b, h, w, k, r)
    assert torch.equal(ranked, want)


@pytest.mark.parametrize("batch", [2, 5])
@pytest.mark.parametrize("t_steps", [1, 2, 5, 15, 16, 40, 200])
@pytest.mark.parametrize("name", ["conv1", "conv2"])
def test_pointwise_first_equals_the_counted_path(name, t_steps, batch):
    """At every position, the first step, feature and potential that pointwise inhibition keeps from the
    step-by-step counts, by the binary search in time; any T (powers of two or not, above 128 too: int16
    probes), any batch; silent samples included."""
    net = _reweight(StdpNet("mozafari2018", seed=3, time_steps=t_steps), 4)
    net.compiled = False  # the counts of the tensor path (the event-driven ones sum in another order)
    spec = net.specs[name]
    shape = (batch, 6, 28, 28) if name == "conv1" else (batch, 30, 14, 14)
    times = _times(7, shape[0], *shape[1:], t=t_steps, lo=0.1)
    times[-1] = t_steps  # a silent sample
    padded, counts, value = net._layer_counts(name, times, values=True)
    keep = sf.pointwise_keep(counts, value)
    b, _, ho, wo = counts.shape
    flat, feature, count, first_value = net._pointwise_first(spec, padded)
    want_flat = keep.any(dim=1).reshape(-1).nonzero().squeeze(1)
    assert torch.equal(flat, want_flat) and flat.numel() > 0
    bi, rem = flat // (ho * wo), flat % (ho * wo)
    want_feature = keep.long().argmax(dim=1).reshape(-1)[flat]
    assert torch.equal(feature, want_feature)
    assert torch.equal(count, counts[bi, feature, rem // wo, rem % wo])
    torch.testing.assert_close(first_value, value[bi, feature, rem // wo, rem % wo], rtol=1e-6, atol=1e-5)
    assert bool((count > 0).all()) and bool((count <= t_steps).all())


def test_stdp_step_on_a_batch_of_sixteen_equals_the_wave_reference(compiled):
    """The cpu profile's training batch (16: the vectorised rounds), with silent samples and varied weights."""
    net = _reweight(StdpNet("mozafari2018", seed=5), 6)
    net.compiled = compiled
    times = _times(8, 16)
    times[3] = T
    rates = torch.tensor([[0.004 * 2 ** (i % 5), -0.003 * 2 ** (i % 5)] for i in range(16)])
    ref = copy.deepcopy(net)
    want_winners, want_weight = _reference_stdp(ref, "conv1", times, rates)
    winners = net.stdp_step("conv1", times, rates)
    assert torch.equal(winners, want_winners)
    assert bool((winners[3] == -1).all())
    assert torch.equal(net.weight("conv1"), want_weight)


@pytest.mark.parametrize(("batch", "name", "block"), [(1, "conv1", 0), (3, "conv1", 0), (1, "conv2", 1),
                                                    (4, "conv2", 1)])
def test_stdp_step_on_small_batches_equals_the_wave_reference(batch, name, block, compiled):
    """Batches of up to _SMALL_BATCH samples (the online rule: 1) take their winners by ranking the live
    positions once (tensor path): the same winners and weights as the reference, image after image."""
    net = _reweight(StdpNet("mozafari2018", seed=9), 10)
    net.compiled = compiled
    data = net.features_times(_times(12, 8, lo=0.1), block)
    ref = copy.deepcopy(net)
    for start in range(0, 8, batch):
        times = data[start:start + batch]
        rates = torch.tensor([[0.004 * (start + i + 1), -0.003 * (start + i + 1)] for i in range(times.shape[0])])
        want_winners, want_weight = _reference_stdp(ref, name, times, rates)
        ref.weight(name).copy_(want_weight)
        winners = net.stdp_step(name, times, rates)
        assert torch.equal(winners, want_winners), f"samples {start}..{start + batch}"
        assert torch.equal(net.weight(name), want_weight)
    assert not torch.equal(net.weight(name), StdpNet("mozafari2018", seed=9).weight(name))


def test_stdp_step_with_nothing_firing_leaves_the_weights(compiled):
    net = StdpNet("mozafari2018", seed=1)
    net.compiled = compiled
    before = net.weight("conv1").clone()
    winners = net.stdp_step("conv1", torch.full((3, 6, 28, 28), T, dtype=torch.uint8), torch.tensor([[0.004, -0.003]] * 3))
    assert bool((winners == -1).all()) and torch.equal(net.weight("conv1"), before)

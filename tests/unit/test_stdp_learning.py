"""Learning rules of snnkit.stdp.learning: hand-computed cases of the spec's STDP / R-STDP (Mozafari et
al. 2019 / SpykeTorch), a plain-Python reference, only the winners' kernels change, bounds hold after any
number of updates, batched == per-sample loop exactly, the rate schedules, bad arguments."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnkit.errors import ConfigError
from snnkit.stdp import functional as sf
from snnkit.stdp import learning as sl


def _cumulative(first: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Cumulative spike wave [T, ...] from first-spike steps (-1 = silent)."""
    t = torch.arange(n_steps).reshape(-1, *([1] * first.dim()))
    return ((first >= 0) & (t >= first)).float()


def _hand_case():
    """One sample: input 1 channel 2x3 (T=3), kernel 2x2, winner (0, 0, 1) with first spike at step 1."""
    first_in = torch.tensor([[0, 2, -1], [1, 1, 0]])
    inp = _cumulative(first_in, 3).reshape(1, 3, 1, 2, 3)
    first_out = torch.tensor([[[-1, 1]], [[0, -1]]])  # features 0 and 1, 1x2 output
    out = _cumulative(first_out, 3).reshape(1, 3, 2, 1, 2)
    weight = torch.tensor([[[[0.5, 0.25], [0.75, 0.5]]], [[[0.5, 0.5], [0.5, 0.5]]]])
    winners = torch.tensor([[[0, 0, 1]]])
    return weight, inp, out, winners


# receptive field of (0, 1): pre first spikes [[2, silent], [1, 0]] vs post 1 -> [[LTD, LTD], [LTP, LTP]]
def test_stdp_hand_case_with_stabiliser():
    weight, inp, out, winners = _hand_case()
    new = sl.stdp(weight, inp, out, winners, (0.5, -0.25))
    expected = torch.tensor([[0.5 - 0.25 * 0.5 * 0.5, 0.25 - 0.25 * 0.25 * 0.75],
                             [0.75 + 0.5 * 0.75 * 0.25, 0.5 + 0.5 * 0.5 * 0.5]])
    assert torch.equal(new[0, 0], expected)
    assert torch.equal(new[1], weight[1])  # not a winner: bit-identical
    assert torch.equal(weight, _hand_case()[0])  # not in place by default


def test_depressed_weights_reach_the_lower_bound_without_passing_through_subnormals():
    weight, inp, out, winners = _hand_case()
    weight[0, 0, 0, 0] = 1e-36  # the LTD position of the winner's receptive field, a normal float near 0
    tiny = torch.finfo(torch.float32).tiny
    seen = []
    for _ in range(40):  # each update multiplies it by about 1 - 0.9
        weight = sl.stdp(weight, inp, out, winners, (0.5, -0.9))
        seen.append(float(weight[0, 0, 0, 0]))
    assert seen[-1] == 0.0 and all(v == 0.0 or v >= tiny for v in seen)
    assert not bool(((weight != 0) & (weight.abs() < tiny)).any())


def test_stdp_hand_case_without_stabiliser_clips_to_bounds():
    weight, inp, out, winners = _hand_case()
    new = sl.stdp(weight, inp, out, winners, (0.25, -0.125), stabilizer=False, bounds=(0.2, 0.8))
    assert torch.equal(new[0, 0], torch.tensor([[0.375, 0.2], [0.8, 0.75]]))  # 0.125 -> 0.2, 1.0 -> 0.8
    assert torch.equal(new[1], weight[1])


def test_stdp_per_feature_rates_and_inplace():
    weight, inp, out, winners = _hand_case()
    rates = torch.tensor([[0.25, -0.125], [9.0, -9.0]])
    same = sl.stdp(weight, inp, out, winners, rates, stabilizer=False, bounds=(0.2, 0.8), inplace=True)
    assert same is weight
    assert torch.equal(weight[0, 0], torch.tensor([[0.375, 0.2], [0.8, 0.75]]))
    assert torch.equal(weight[1], torch.full((1, 2, 2), 0.5))


def test_stdp_silent_winner_rows_and_no_winners_change_nothing():
    weight, inp, out, _ = _hand_case()
    none = torch.full((1, 2, 3), -1)
    assert torch.equal(sl.stdp(weight, inp, out, none, (0.5, -0.5)), weight)


def test_same_feature_in_two_samples_applies_sequentially():
    weight, inp, out, winners = _hand_case()
    inp2, out2, win2 = inp.repeat(2, 1, 1, 1, 1), out.repeat(2, 1, 1, 1, 1), winners.repeat(2, 1, 1)
    new = sl.stdp(weight, inp2, out2, win2, (0.5, -0.25))
    once = sl.stdp(weight, inp, out, winners, (0.5, -0.25))
    twice = sl.stdp(once, inp, out, winners, (0.5, -0.25))
    assert torch.equal(new, twice)
    assert new[0, 0, 1, 1].item() == 0.625 + 0.5 * 0.625 * 0.375  # LTP applied twice on w = 0.5


def test_one_sample_with_a_repeated_feature_applies_sequentially():
    """Winners passed by hand may repeat a feature within one sample (get_k_winners never does): the two
    updates of that kernel still apply one after the other, as the plain loop does."""
    weight, inp, out, winners, rates = _random_layer(1, b=1, k=3, r=0)
    assert int((winners[0, :, 0] >= 0).sum()) >= 2
    repeated = winners.clone()
    repeated[0, 1, 0] = repeated[0, 0, 0]  # the second winner's feature = the first's
    new = sl.stdp(weight, inp, out, repeated, rates, stabilizer=True, bounds=(0.1, 0.9))
    ref = _reference(weight, inp, out, repeated, rates, True, 0.1, 0.9)
    torch.testing.assert_close(new, ref, rtol=0, atol=1e-12)


def _reference(weight, inp, out, winners, rates, stabilizer, lb, ub):
    """Plain-Python loops of the spec's rule, winner by winner in (sample, row) order."""
    w = weight.clone().double()
    n_in, n_out = (inp > 0).sum(1), (out > 0).sum(1)
    _, c, kh, kw = w.shape
    for b in range(winners.shape[0]):
        for f, y, x in winners[b].tolist():
            if f < 0:
                continue
            post = int(n_out[b, f, y, x])
            for ci in range(c):
                for i in range(kh):
                    for j in range(kw):
                        pre = int(n_in[b, ci, y + i, x + j])
                        a = float(rates[b, f, 0] if pre >= post else rates[b, f, 1])
                        v = float(w[f, ci, i, j])
                        dv = a * (v - lb) * (ub - v) if stabilizer else a
                        w[f, ci, i, j] = min(max(v + dv, lb), ub)
    return w


def _random_layer(seed: int, b: int = 5, t: int = 4, c: int = 2, f: int = 3, h: int = 6, w: int = 5,
                  k: int = 2, r: int = 1):
    g = torch.Generator().manual_seed(seed)
    first_in = torch.randint(-1, t, (b, c, h, w), generator=g)
    inp = torch.stack([_cumulative(x, t) for x in first_in])
    weight = 0.05 + 0.9 * torch.rand(f, c, 3, 3, generator=g, dtype=torch.float64)
    pot = torch.nn.functional.conv2d(inp.reshape(b * t, c, h, w).double(), weight).reshape(b, t, f, h - 2, w - 2)
    spikes, pot = sf.fire(pot, 3.0, return_thresholded_potentials=True)
    winners = sf.get_k_winners(pot, k, r, spikes)
    rates = torch.rand(b, f, 2, generator=g, dtype=torch.float64) * torch.tensor([0.3, -0.3], dtype=torch.float64)
    return weight, inp.double(), spikes, winners, rates


@pytest.mark.parametrize("stabilizer", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_stdp_matches_plain_python_reference(seed, stabilizer):
    weight, inp, out, winners, rates = _random_layer(seed)
    assert (winners[..., 0] >= 0).sum() >= 4  # the case exercises several winners and repeated features
    lb, ub = (0.1, 0.9)
    new = sl.stdp(weight, inp, out, winners, rates, stabilizer=stabilizer, bounds=(lb, ub))
    ref = _reference(weight, inp, out, winners, rates, stabilizer, lb, ub)
    torch.testing.assert_close(new, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_stdp_changes_exactly_the_winners_kernels(seed):
    weight, inp, out, winners, _ = _random_layer(seed, b=1, f=6, k=3, r=0)
    new = sl.stdp(weight, inp, out, winners, (0.004, -0.003))
    won = {f for f in winners[0, :, 0].tolist() if f >= 0}
    assert won
    changed = (new != weight).reshape(weight.shape[0], -1)
    assert {f for f in range(weight.shape[0]) if changed[f].any()} == won
    assert all(bool(changed[f].all()) for f in won)  # w strictly inside the bounds: every weight moves


@pytest.mark.parametrize("seed", range(3))
def test_batched_equals_per_sample_loop(seed):
    weight, inp, out, winners, rates = _random_layer(seed, b=6, f=3, k=2)
    weight = weight.float()
    batched = sl.stdp(weight, inp, out, winners, rates, bounds=(0.0, 1.0))
    loop = weight.clone()
    for b in range(inp.shape[0]):
        loop = sl.stdp(loop, inp[b:b + 1], out[b:b + 1], winners[b:b + 1], rates[b:b + 1])
    assert torch.equal(batched, loop)
    reward = torch.tensor([True, False, True, True, False, False])
    batched = sl.r_stdp(weight, inp, out, winners, reward, (0.004, -0.003), (-0.004, 0.0005),
                        stabilizer=False, bounds=(0.2, 0.8))
    loop = weight.clone()
    for b in range(inp.shape[0]):
        loop = sl.r_stdp(loop, inp[b:b + 1], out[b:b + 1], winners[b:b + 1], reward[b:b + 1],
                         (0.004, -0.003), (-0.004, 0.0005), stabilizer=False, bounds=(0.2, 0.8))
    assert torch.equal(batched, loop)


def test_r_stdp_reward_is_stdp_and_punishment_is_anti_stdp():
    weight, inp, out, winners = _hand_case()
    both = sl.r_stdp(weight, inp.repeat(2, 1, 1, 1, 1), out.repeat(2, 1, 1, 1, 1), winners.repeat(2, 1, 1),
                     torch.tensor([True, False]), (0.25, -0.125), (-0.125, 0.25), stabilizer=False,
                     bounds=(0.0, 1.0))
    # reward: [[LTD, LTD], [LTP, LTP]] with (0.25, -0.125); then punishment with (-0.125, 0.25) swaps signs
    rewarded = torch.tensor([[0.375, 0.125], [1.0, 0.75]])
    assert torch.equal(both[0, 0], rewarded + torch.tensor([[0.25, 0.25], [-0.125, -0.125]]))
    punished = sl.r_stdp(weight, inp, out, winners, torch.tensor([False]), (0.25, -0.125), (-0.125, 0.25),
                         stabilizer=False)
    assert torch.equal(punished[0, 0], torch.tensor([[0.75, 0.5], [0.625, 0.375]]))
    assert torch.equal(both[1], weight[1])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), steps=st.integers(1, 6), stabilizer=st.booleans(),
       a_plus=st.floats(-5, 5), a_minus=st.floats(-5, 5),
       bounds=st.tuples(st.floats(-2, 2), st.floats(0.01, 3)).map(lambda p: (p[0], p[0] + p[1])))
def test_weights_stay_within_bounds(seed, steps, stabilizer, a_plus, a_minus, bounds):
    weight, inp, out, winners, _ = _random_layer(seed % 50, b=3)
    lb, ub = bounds
    weight = lb + (ub - lb) * weight  # inside the bounds
    for _ in range(steps):
        weight = sl.stdp(weight, inp, out, winners, (a_plus, a_minus), stabilizer=stabilizer, bounds=bounds)
        assert bool(((weight >= lb) & (weight <= ub)).all())
        weight = sl.r_stdp(weight, inp, out, winners, torch.tensor([True, False, True]), (a_plus, a_minus),
                           (a_minus, a_plus), stabilizer=stabilizer, bounds=bounds)
        assert bool(((weight >= lb) & (weight <= ub)).all())


# ---------------------------------------------------------------- linear layers
def test_stdp_linear_hand_case_and_inplace():
    weight = torch.tensor([[0.5, 0.5, 0.5], [0.5, 0.25, 0.75]])
    inp = _cumulative(torch.tensor([0, 2, -1]), 3)[None]  # [1, T=3, D=3]
    out = _cumulative(torch.tensor([-1, 1]), 3)[None]  # neuron 1 fires at step 1
    winners = torch.tensor([[1, -1]])
    new = sl.stdp_linear(weight, inp, out, winners, (0.5, -0.25))
    assert new.shape == (2, 3)
    assert torch.equal(new[1], torch.tensor([0.5 + 0.5 * 0.25, 0.25 - 0.25 * 0.25 * 0.75, 0.75 - 0.25 * 0.75 * 0.25]))
    assert torch.equal(new[0], weight[0])
    punished = sl.r_stdp_linear(weight, inp, out, winners, torch.tensor([False]), (0.5, -0.25), (-0.25, 0.5),
                                stabilizer=False, inplace=True)
    assert torch.equal(weight[1], torch.tensor([0.25, 0.75, 1.0])) and torch.equal(punished, weight)


def test_stdp_linear_batched_equals_loop():
    g = torch.Generator().manual_seed(3)
    b, t, d, f = 5, 4, 7, 3
    inp = torch.stack([_cumulative(x, t) for x in torch.randint(-1, t, (b, d), generator=g)])
    out = torch.stack([_cumulative(x, t) for x in torch.randint(-1, t, (b, f), generator=g)])
    winners = torch.randint(-1, f, (b, 2), generator=g)
    weight = 0.1 + 0.8 * torch.rand(f, d, generator=g)
    reward = torch.tensor([True, False, False, True, True])
    batched = sl.r_stdp_linear(weight, inp, out, winners, reward, (0.3, -0.2), (-0.2, 0.1))
    loop = weight.clone()
    for i in range(b):
        loop = sl.r_stdp_linear(loop, inp[i:i + 1], out[i:i + 1], winners[i:i + 1], reward[i:i + 1], (0.3, -0.2),
                                (-0.2, 0.1))
    assert torch.equal(batched, loop) and not torch.equal(batched, weight)


# ---------------------------------------------------------------- schedules
def test_adaptive_rstdp_rates():
    reward, punish = sl.adaptive_rstdp_rates((0.004, -0.003), (-0.004, 0.0005), hits=900, misses=80, silent=20)
    assert reward == pytest.approx((0.004 * 0.08, -0.003 * 0.08))  # x fraction missed (of all 1000)
    assert punish == pytest.approx((-0.004 * 0.9, 0.0005 * 0.9))  # x fraction hit
    reward, punish = sl.adaptive_rstdp_rates((1.0, -1.0), (-1.0, 1.0), 1, 3, adaptive_min=0.5, adaptive_int=2.0)
    assert reward == (2.0, -2.0) and punish == (-1.0, 1.0)  # 3/4*2+0.5 and 1/4*2+0.5


def test_doubling_schedule():
    assert sl.doubling_schedule(0) == (0.004, -0.003)
    assert sl.doubling_schedule(498) == (0.004, -0.003)
    assert sl.doubling_schedule(499) == (0.008, -0.006)  # raised before the 500th sample's own update
    assert sl.doubling_schedule(999) == (0.016, -0.012)
    assert sl.doubling_schedule(6 * 500 - 2) == (0.128, -0.096)
    assert sl.doubling_schedule(6 * 500 - 1) == (0.15, -0.75 * 0.15)  # capped
    assert sl.doubling_schedule(10 ** 7) == (0.15, -0.75 * 0.15)
    assert sl.doubling_schedule(3, 1.0, every=2, max_a_plus=0.5) == (0.5, -0.375)  # above the cap: capped
    assert sl.doubling_schedule(0, 1.0, every=2, max_a_plus=0.5) == (1.0, -0.75)


# ---------------------------------------------------------------- bad arguments
def test_bad_arguments_raise_config_error():
    weight, inp, out, winners = _hand_case()
    with pytest.raises(ConfigError, match="bounds"):
        sl.stdp(weight, inp, out, winners, (0.1, -0.1), bounds=(1.0, 0.0))
    with pytest.raises(ConfigError, match="learning_rates"):
        sl.stdp(weight, inp, out, winners, (0.1, -0.1, 0.2))
    with pytest.raises(ConfigError, match="learning_rates"):
        sl.stdp(weight, inp, out, winners, (float("nan"), -0.1))
    with pytest.raises(ConfigError, match="weight"):
        sl.stdp(torch.zeros(2, 1, 3, 4), inp, out, winners, (0.1, -0.1))  # kernel larger than the input
    with pytest.raises(ConfigError, match="output_spikes"):
        sl.stdp(weight, inp, out[..., :1], winners, (0.1, -0.1))
    with pytest.raises(ConfigError, match="input_spikes"):
        sl.stdp(weight, inp[0], out, winners, (0.1, -0.1))
    with pytest.raises(ConfigError, match="winners"):
        sl.stdp(weight, inp, out, winners[0], (0.1, -0.1))
    with pytest.raises(ConfigError, match="reward"):
        sl.r_stdp(weight, inp, out, winners, torch.tensor([1]), (0.1, -0.1), (-0.1, 0.1))
    with pytest.raises(ConfigError, match="punish_rates"):
        sl.r_stdp(weight, inp, out, winners, torch.tensor([True]), (0.1, -0.1), (0.1,))
    with pytest.raises(ConfigError, match="winners"):
        sl.stdp_linear(torch.zeros(2, 3), torch.zeros(1, 2, 3), torch.zeros(1, 2, 2), torch.zeros(1, 1, 3), (1, -1))
    with pytest.raises(ConfigError, match="hits"):
        sl.adaptive_rstdp_rates((0.1, -0.1), (-0.1, 0.1), 0, 0)
    with pytest.raises(ConfigError, match="misses"):
        sl.adaptive_rstdp_rates((0.1, -0.1), (-0.1, 0.1), 1, -1)
    with pytest.raises(ConfigError, match="every"):
        sl.doubling_schedule(3, every=0)
    with pytest.raises(ConfigError, match="sample_index"):
        sl.doubling_schedule(-1)

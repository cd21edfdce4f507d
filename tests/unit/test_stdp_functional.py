"""Spike-wave operators of snnkit.stdp.functional: hand-computed single-sample cases of the spec's
semantics (Mozafari et al. 2019 / SpykeTorch), batched == per-sample loop exactly, bad arguments."""

from __future__ import annotations

import pytest
import torch

from snnkit.errors import ConfigError
from snnkit.stdp import functional as sf


def _cumulative(first: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Cumulative spike wave [T, ...] from first-spike steps (-1 = silent)."""
    t = torch.arange(n_steps).reshape(-1, *([1] * first.dim()))
    return ((first >= 0) & (t >= first)).float()


def _random_potentials(seed: int, b: int = 5, t: int = 6, c: int = 4, h: int = 7, w: int = 6,
                       ties: bool = False) -> torch.Tensor:
    """Non-decreasing (integrated) potentials [B, T, C, H, W], optionally small integers (many ties)."""
    g = torch.Generator().manual_seed(seed)
    inc = torch.randint(0, 3, (b, t, c, h, w), generator=g).float() if ties else \
        torch.rand(b, t, c, h, w, generator=g)
    return inc.cumsum(dim=1)


# ---------------------------------------------------------------- fire
def test_fire_threshold_hand_case():
    pot = torch.tensor([0.0, 1.0, 1.5, 2.0, 3.0]).reshape(1, 5, 1, 1, 1)
    spikes, thr = sf.fire(pot, 1.5, return_thresholded_potentials=True)
    assert spikes.flatten().tolist() == [0, 0, 0, 1, 1]  # <= θ is zeroed
    assert thr.flatten().tolist() == [0, 0, 0, 2, 3]
    assert sf.fire(pot, 0).flatten().tolist() == [0, 1, 1, 1, 1]


def test_fire_last_step_only():
    pot = torch.tensor([[5.0, 0.0], [6.0, 0.0], [7.0, 0.5]]).reshape(1, 3, 2, 1, 1)
    spikes, thr = sf.fire(pot, None, return_thresholded_potentials=True)
    assert spikes[0, :2].abs().sum() == 0
    assert spikes[0, 2].flatten().tolist() == [1, 1]
    assert thr[0, 2].flatten().tolist() == [7.0, 0.5]
    assert thr[0, :2].abs().sum() == 0


@pytest.mark.parametrize("threshold", [-0.1, -5, float("nan"), True, "1"])
def test_fire_bad_threshold(threshold):
    with pytest.raises(ConfigError, match="threshold"):
        sf.fire(torch.zeros(1, 2, 1, 2, 2), threshold)


def test_fire_needs_batched_wave():
    with pytest.raises(ConfigError, match="B, T, C, H, W"):
        sf.fire(torch.zeros(2, 1, 2, 2), 1.0)


# ---------------------------------------------------------------- pooling, pad
def test_pooling_propagates_earliest_spike():
    first = torch.tensor([[3, -1, 2, 2], [1, 3, -1, -1], [-1, -1, 0, 3], [-1, -1, 3, -1]])
    wave = _cumulative(first, 4).reshape(1, 4, 1, 4, 4)
    out = sf.pooling(wave, 2)
    assert out.shape == (1, 4, 1, 2, 2)
    # first spike of each 2x2 block: min over fired = 1, 2, -1 (silent), 0
    expected = _cumulative(torch.tensor([[1, 2], [-1, 0]]), 4).reshape(1, 4, 1, 2, 2)
    assert torch.equal(out, expected)


def test_pooling_stride_padding_and_kernel_too_large():
    wave = torch.arange(9.0).reshape(1, 1, 1, 3, 3)
    out = sf.pooling(wave, 3, stride=3, padding=1)
    assert out.shape == (1, 1, 1, 1, 1) and out.item() == 4.0  # window rows/cols -1..1 of the padded input
    assert sf.pooling(wave, 2, stride=1).flatten().tolist() == [4, 5, 7, 8]
    with pytest.raises(ConfigError, match="kernel_size"):
        sf.pooling(wave, 4)
    with pytest.raises(ConfigError, match="kernel_size"):
        sf.pooling(wave, 0)


def test_pad():
    wave = torch.ones(2, 3, 1, 2, 2)
    out = sf.pad(wave, 1)
    assert out.shape == (2, 3, 1, 4, 4) and out.sum() == wave.sum() and out[:, :, :, 1:3, 1:3].eq(1).all()
    out = sf.pad(wave, (1, 0, 2, 0), value=0.5)  # left, right, top, bottom
    assert out.shape == (2, 3, 1, 4, 3) and out[0, 0, 0, 0, 0] == 0.5 and out[0, 0, 0, 2:, 1:].eq(1).all()
    with pytest.raises(ConfigError, match="padding"):
        sf.pad(wave, -1)
    with pytest.raises(ConfigError, match="padding"):
        sf.pad(wave, (1, 2))


# ---------------------------------------------------------------- pointwise inhibition
def test_pointwise_inhibition_hand_case():
    # 3 features, 3 steps, 1x3 positions.
    # pos 0: f0 fires at t=1 (pot 2), f1 at t=0 (pot 1)      -> f1 (earliest)
    # pos 1: f0 and f2 fire at t=0 with pots 3 and 4          -> f2 (larger potential)
    # pos 2: f1 and f2 at t=1 with equal pots 5, f0 silent    -> f1 (tie: lowest index)
    pot = torch.zeros(1, 3, 3, 1, 3)
    pot[0, 1:, 0, 0, 0] = 2.0
    pot[0, :, 1, 0, 0] = 1.0
    pot[0, :, 0, 0, 1] = torch.tensor([3.0, 3.5, 9.0])
    pot[0, :, 2, 0, 1] = torch.tensor([4.0, 4.0, 4.0])
    pot[0, 1:, 1, 0, 2] = 5.0
    pot[0, 1:, 2, 0, 2] = torch.tensor([5.0, 8.0])
    out = sf.pointwise_inhibition(pot)
    keep = torch.zeros(3, 3, dtype=torch.bool)  # [feature, position]
    keep[1, 0] = keep[2, 1] = keep[1, 2] = True
    expected = pot * keep[None, None, :, None, :]
    assert torch.equal(out, expected)
    # a silent position stays silent
    assert sf.pointwise_inhibition(torch.zeros(1, 2, 3, 2, 2)).eq(0).all()


# ---------------------------------------------------------------- k winners
def test_k_winners_hand_case_order_feature_and_lateral_inhibition():
    # 3 features, 4 steps, 5x5 map
    pot = torch.zeros(1, 4, 3, 5, 5)
    pot[0, 0:, 0, 0, 0] = 1.0            # earliest (t=0), low potential
    pot[0, 1:, 1, 4, 4] = 10.0           # t=1, pot 10 -> second
    pot[0, 1:, 2, 4, 3] = 9.0            # t=1, pot 9 but within r=1 of (4,4): laterally inhibited
    pot[0, 2:, 2, 2, 0] = 3.0            # t=2 -> third (after the lateral removal)
    pot[0, 0:, 0, 2, 2] = 100.0          # t=0, higher potential -> first winner
    wins = sf.get_k_winners(pot, k=4, inhibition_radius=1)
    # (0,2,2) and (0,0,0) both fire at t=0; potential 100 > 1 -> (0,2,2) first, then feature 0 is gone
    assert wins.tolist() == [[[0, 2, 2], [1, 4, 4], [2, 2, 0], [-1, -1, -1]]]
    # without lateral inhibition (r=0), (2,4,3) beats (2,2,0)
    assert sf.get_k_winners(pot, k=3, inhibition_radius=0).tolist() == [[[0, 2, 2], [1, 4, 4], [2, 4, 3]]]
    # k=1
    assert sf.get_k_winners(pot, 1).tolist() == [[[0, 2, 2]]]


def test_k_winners_lateral_window_crosses_features():
    pot = torch.zeros(1, 2, 3, 4, 4)
    pot[0, :, 0, 1, 1] = 5.0
    pot[0, :, 1, 2, 2] = 4.0   # within r=1 of (1,1) in another feature: removed
    pot[0, :, 2, 3, 3] = 3.0   # outside the window: stays
    assert sf.get_k_winners(pot, 3, 1).tolist() == [[[0, 1, 1], [2, 3, 3], [-1, -1, -1]]]
    assert sf.get_k_winners(pot, 3, 2).tolist() == [[[0, 1, 1], [-1, -1, -1], [-1, -1, -1]]]


def test_k_winners_ties_lowest_flat_index_and_silent():
    pot = torch.zeros(1, 2, 2, 3, 3)
    pot[0, :, 1, 0, 0] = 2.0
    pot[0, :, 0, 2, 1] = 2.0
    pot[0, :, 0, 1, 2] = 2.0
    assert sf.get_k_winners(pot, 2).tolist() == [[[0, 1, 2], [1, 0, 0]]]
    assert sf.get_k_winners(torch.zeros(2, 3, 2, 3, 3), 2).eq(-1).all()


def test_k_winners_uses_given_spikes_and_first_spike_potential():
    # potentials rise after the first spike; the score uses the potential AT the first spike time
    pot = torch.zeros(1, 3, 2, 1, 2)
    pot[0, :, 0, 0, 0] = torch.tensor([0.0, 2.0, 50.0])   # fires at t=1 with 2
    pot[0, :, 1, 0, 1] = torch.tensor([0.0, 3.0, 3.0])    # fires at t=1 with 3
    assert sf.get_k_winners(pot, 1).tolist() == [[[1, 0, 1]]]
    spikes = (pot > 2.5).float()  # now (1,0,1) fires at t=1, (0,0,0) at t=2
    assert sf.get_k_winners(pot, 2, spikes=spikes).tolist() == [[[1, 0, 1], [0, 0, 0]]]


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_k_winners_bad_k(k):
    with pytest.raises(ConfigError, match="'k'"):
        sf.get_k_winners(torch.zeros(1, 2, 2, 3, 3), k)


@pytest.mark.parametrize("r", [-1, 0.5])
def test_bad_radius(r):
    wave = torch.zeros(1, 2, 2, 3, 3)
    with pytest.raises(ConfigError, match="inhibition_radius"):
        sf.get_k_winners(wave, 1, r)
    with pytest.raises(ConfigError, match="inhibition_radius"):
        sf.lateral_inhibition(wave, torch.zeros(1, 1, 3, dtype=torch.long), r)
    with pytest.raises(ConfigError, match="radius"):
        sf.local_normalization(torch.ones(1, 1, 3, 3), r)


# ---------------------------------------------------------------- feature / lateral inhibition
def test_feature_inhibition_list_and_mask():
    wave = torch.ones(2, 2, 3, 2, 2)
    out = sf.feature_inhibition(wave, [0, 2])
    assert out[:, :, 1].eq(1).all() and out[:, :, [0, 2]].eq(0).all() and wave.eq(1).all()
    mask = torch.tensor([[True, False, False], [False, False, True]])
    out = sf.feature_inhibition(wave, mask)
    assert out[0, :, 0].eq(0).all() and out[0, :, 1:].eq(1).all()
    assert out[1, :, 2].eq(0).all() and out[1, :, :2].eq(1).all()
    assert torch.equal(sf.feature_inhibition(wave, []), wave)
    with pytest.raises(ConfigError, match="inhibited_features"):
        sf.feature_inhibition(wave, [3])


def test_lateral_inhibition_windows():
    wave = torch.ones(2, 1, 2, 5, 5)
    winners = torch.tensor([[[0, 0, 0], [-1, -1, -1]], [[1, 2, 2], [0, 4, 4]]])
    out = sf.lateral_inhibition(wave, winners, 1)
    zero0 = torch.zeros(5, 5, dtype=torch.bool)
    zero0[:2, :2] = True
    zero1 = torch.zeros(5, 5, dtype=torch.bool)
    zero1[1:4, 1:4] = True
    zero1[3:, 3:] = True
    assert torch.equal(out[0, 0, 0] == 0, zero0) and torch.equal(out[0, 0, 1] == 0, zero0)
    assert torch.equal(out[1, 0, 0] == 0, zero1) and torch.equal(out[1, 0, 1] == 0, zero1)
    assert (sf.lateral_inhibition(wave, winners, 0) == 0).sum() == 2 * (1 + 2)


# ---------------------------------------------------------------- local normalisation
def test_local_normalization_hand_case():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]).reshape(1, 1, 3, 3)
    out = sf.local_normalization(x, 1, eps=0.0)
    assert out[0, 0, 1, 1].item() == pytest.approx(5.0 / 5.0)
    assert out[0, 0, 0, 0].item() == pytest.approx(1.0 / ((1 + 2 + 4 + 5) / 9))  # zero padding, /9
    assert out[0, 0, 2, 1].item() == pytest.approx(8.0 / ((4 + 5 + 6 + 7 + 8 + 9) / 9))
    assert torch.equal(sf.local_normalization(x, 0, eps=0.0), torch.ones_like(x))
    with pytest.raises(ConfigError, match="images"):
        sf.local_normalization(torch.ones(3, 3), 1)


# ---------------------------------------------------------------- batched == per-sample loop, exactly
@pytest.mark.parametrize("ties", [False, True])
def test_batched_equals_per_sample_loop(ties):
    pot = _random_potentials(3, ties=ties)
    pot[2] = 0  # a silent sample
    thr = 2.0
    spikes, thresholded = sf.fire(pot, thr, return_thresholded_potentials=True)
    winners_fire = torch.tensor([[[1, 3, 3], [0, 0, 5]]]).expand(pot.shape[0], -1, -1)
    mask = torch.rand(pot.shape[0], pot.shape[2], generator=torch.Generator().manual_seed(1)) > 0.5
    images = _random_potentials(4)[:, 0]
    batched = {
        "fire": spikes, "thresholded": thresholded, "fire_last": sf.fire(pot),
        "pool": sf.pooling(spikes, 3, 2, 1), "pad": sf.pad(spikes, (2, 1, 0, 1)),
        "pointwise": sf.pointwise_inhibition(thresholded),
        "kwin": sf.get_k_winners(thresholded, 5, 1, spikes), "kwin0": sf.get_k_winners(pot, 30, 0),
        "feat": sf.feature_inhibition(pot, mask), "lat": sf.lateral_inhibition(pot, winners_fire, 1),
        "norm": sf.local_normalization(images, 2),
    }
    for i in range(pot.shape[0]):
        p, s, th = pot[i:i + 1], spikes[i:i + 1], thresholded[i:i + 1]
        single = {
            "fire": sf.fire(p, thr), "thresholded": sf.fire(p, thr, True)[1], "fire_last": sf.fire(p),
            "pool": sf.pooling(s, 3, 2, 1), "pad": sf.pad(s, (2, 1, 0, 1)),
            "pointwise": sf.pointwise_inhibition(th),
            "kwin": sf.get_k_winners(th, 5, 1, s), "kwin0": sf.get_k_winners(p, 30, 0),
            "feat": sf.feature_inhibition(p, mask[i:i + 1]),
            "lat": sf.lateral_inhibition(p, winners_fire[i:i + 1], 1),
            "norm": sf.local_normalization(images[i:i + 1], 2),
        }
        for name, value in single.items():
            assert torch.equal(batched[name][i:i + 1], value), (name, i)
    assert batched["kwin"][2].eq(-1).all()  # the silent sample has no winner
    assert (batched["kwin"][[0, 1, 3, 4], 0] >= 0).all()
    # k larger than the number of features: one winner per feature at most, then -1
    assert (batched["kwin0"][[0, 1, 3, 4], :4] >= 0).all() and batched["kwin0"][:, 4:].eq(-1).all()


# ---------------------------------------------------------------- against plain-Python references
def _reference_k_winners(pot: torch.Tensor, k: int, r: int) -> list[list[int]]:
    """One sample [T, C, H, W], spec semantics written as plainly as possible."""
    t_steps, c, h, w = pot.shape
    score = {}
    for f in range(c):
        for y in range(h):
            for x in range(w):
                n = sum(1 for t in range(t_steps) if pot[t, f, y, x] > 0)
                if n:
                    score[(f, y, x)] = (n, pot[t_steps - n, f, y, x].item())
    out = []
    for _ in range(k):
        if not score:
            break
        best = min(score, key=lambda key: (-score[key][0], -score[key][1], key))
        out.append(list(best))
        score = {key: v for key, v in score.items() if key[0] != best[0]
                 and not (abs(key[1] - best[1]) <= r and abs(key[2] - best[2]) <= r and r > 0)}
    return out + [[-1, -1, -1]] * (k - len(out))


def _spyketorch_score(pot: torch.Tensor) -> torch.Tensor:
    """SpykeTorch's score for one sample [T, C, H, W]: n·(value + v) with v = max(value)·T (in float64)."""
    pot = pot.double()
    spikes = (pot > 0).double()
    n = spikes.sum(0)
    t_first = (pot.shape[0] - n).clamp(0, pot.shape[0] - 1).long()
    values = pot.gather(0, t_first[None])[0] * (n > 0)
    v = values.max() * pot.shape[0]
    return n * (values + v)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_k_winners_match_plain_reference_and_spyketorch_order(seed):
    for ties in (False, True):
        pot = _random_potentials(seed, b=3, t=4, c=5, h=6, w=6, ties=ties) - 2.5  # some neurons stay silent
        pot = pot.clamp(min=0)
        wins = sf.get_k_winners(pot, 4, 1)
        for i in range(pot.shape[0]):
            assert wins[i].tolist() == _reference_k_winners(pot[i], 4, 1), (seed, ties, i)
        if not ties:  # distinct potentials: the first winner is SpykeTorch's argmax of its summed score
            for i in range(pot.shape[0]):
                s = _spyketorch_score(pot[i])
                flat = int(s.reshape(-1).argmax())
                c_h_w = (flat // 36, flat % 36 // 6, flat % 6)
                assert tuple(wins[i, 0].tolist()) == c_h_w


def test_pointwise_inhibition_matches_plain_reference():
    pot = (_random_potentials(7, b=2, t=4, c=3, h=4, w=4, ties=True) - 2).clamp(min=0)
    out = sf.pointwise_inhibition(pot)
    t_steps, c = pot.shape[1], pot.shape[2]
    for b in range(pot.shape[0]):
        for y in range(4):
            for x in range(4):
                fired = [t for t in range(t_steps) if pot[b, t, :, y, x].max() > 0]
                keep = set()
                if fired:
                    t0 = fired[0]
                    vals = [pot[b, t0, f, y, x].item() for f in range(c)]
                    keep = {vals.index(max(vals))}  # first maximum: lowest feature index
                for f in range(c):
                    expect = pot[b, :, f, y, x] if f in keep else torch.zeros(t_steps)
                    assert torch.equal(out[b, :, f, y, x], expect)


def test_pooling_padding_limit():
    with pytest.raises(ConfigError, match="padding"):
        sf.pooling(torch.zeros(1, 1, 1, 4, 4), 2, padding=2)

"""snnkit.sparse.hebbian: cosine co-activity of pre and post activity over time × batch, over a window."""

from __future__ import annotations

import pytest
import torch

from snnkit.errors import ConfigError
from snnkit.sparse.hebbian import CoactivityWindow, coactivity, coactivity_sums


def _direct(pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
    """Cosine between every post neuron's and every pre neuron's sample vector, one pair at a time."""
    pre = pre.reshape(-1, pre.shape[-1]).double()
    post = post.reshape(-1, post.shape[-1]).double()
    out = torch.zeros(post.shape[1], pre.shape[1], dtype=torch.float64)
    for o in range(post.shape[1]):
        for i in range(pre.shape[1]):
            a, b = post[:, o], pre[:, i]
            if a.norm() > 0 and b.norm() > 0:
                out[o, i] = torch.dot(a, b) / (a.norm() * b.norm())
    return out


def _spikes(gen: torch.Generator, *shape: int, p: float = 0.3) -> torch.Tensor:
    return (torch.rand(*shape, generator=gen) < p).float()


def test_one_batch_equals_pairwise_cosine_over_time_and_batch() -> None:
    gen = torch.Generator().manual_seed(0)
    pre, post = _spikes(gen, 6, 5, 7), _spikes(gen, 6, 5, 4)  # [T, B, in], [T, B, out]
    post[:, :, 2] = 0  # a silent post neuron: zero row
    pre[:, :, 3] = 0  # a silent pre neuron: zero column
    ch = coactivity(pre, post)
    assert ch.shape == (4, 7)
    torch.testing.assert_close(ch.double(), _direct(pre, post), rtol=1e-6, atol=1e-7)
    assert torch.count_nonzero(ch[2]) == 0 and torch.count_nonzero(ch[:, 3]) == 0


def test_identical_vectors_score_one_and_disjoint_ones_zero() -> None:
    post = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])  # 3 samples, 2 post neurons
    pre = torch.tensor([[2.0, 0.0], [0.0, 0.0], [2.0, 1.0]])
    ch = coactivity(pre, post)
    assert ch[0, 0].item() == pytest.approx(1.0)  # post 0 and pre 0 fire on the same samples
    assert ch[1, 0].item() == 0.0  # never together
    assert ch[1, 1].item() == 0.0


def test_constant_input_broadcast_over_time_equals_the_repeated_input() -> None:
    gen = torch.Generator().manual_seed(1)
    current = torch.rand(5, 7, generator=gen)  # [B, in], the same at every step
    post = _spikes(gen, 6, 5, 4)
    repeated = current.expand(6, 5, 7)
    torch.testing.assert_close(coactivity(current, post), coactivity(repeated, post))
    torch.testing.assert_close(coactivity(current, post).double(), _direct(repeated, post), rtol=1e-6, atol=1e-7)


def test_window_is_the_cosine_over_all_samples_of_the_last_batches() -> None:
    gen = torch.Generator().manual_seed(2)
    batches = [(_spikes(gen, 4, 3, 7), _spikes(gen, 4, 3, 5)) for _ in range(5)]
    acc = CoactivityWindow(window=3)
    assert acc.score() is None
    for pre, post in batches:
        acc.update(pre, post)
    assert acc.batches == 3
    last = batches[-3:]
    pre_all = torch.cat([p for p, _ in last], dim=1)  # the three batches' samples together
    post_all = torch.cat([q for _, q in last], dim=1)
    torch.testing.assert_close(acc.score().double(), _direct(pre_all, post_all), rtol=1e-6, atol=1e-7)
    # ... which is not the mean of per-batch cosines
    mean_of_cosines = torch.stack([coactivity(p, q) for p, q in last]).mean(0)
    assert not torch.allclose(acc.score(), mean_of_cosines, atol=1e-3)


def test_default_window_is_the_latest_batch() -> None:
    gen = torch.Generator().manual_seed(3)
    acc = CoactivityWindow()
    first, second = (_spikes(gen, 4, 3, 7), _spikes(gen, 4, 3, 5)), (_spikes(gen, 4, 3, 7), _spikes(gen, 4, 3, 5))
    acc.update(*first)
    acc.update(*second)
    torch.testing.assert_close(acc.score(), coactivity(*second))


def test_state_dict_round_trip_continues_identically() -> None:
    gen = torch.Generator().manual_seed(4)
    batches = [(_spikes(gen, 4, 3, 7), _spikes(gen, 4, 3, 5)) for _ in range(4)]
    a = CoactivityWindow(window=2)
    for pre, post in batches[:3]:
        a.update(pre, post)
    state = a.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    b = CoactivityWindow(window=2)
    b.load_state_dict(state)
    a.update(*batches[3])
    b.update(*batches[3])
    assert torch.equal(a.score(), b.score())
    with pytest.raises(ConfigError, match="window"):
        CoactivityWindow(window=3).load_state_dict(state)


def test_sums_stay_on_the_activity_device_and_dtype_float32() -> None:
    pre, post = torch.ones(2, 3, dtype=torch.bfloat16), torch.ones(2, 4, dtype=torch.bfloat16)
    cross, post_sq, pre_sq = coactivity_sums(pre, post)
    assert cross.dtype == torch.float32 and cross.shape == (4, 3)
    assert post_sq.tolist() == [2.0] * 4 and pre_sq.tolist() == [2.0] * 3


@pytest.mark.parametrize("window", [0, -1, 1.5, True])
def test_bad_window_is_a_config_error(window: object) -> None:
    with pytest.raises(ConfigError, match="window"):
        CoactivityWindow(window=window)


def test_pre_and_post_with_different_samples_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(4, 7\) does not match post activity \(6, 5, 3\)"):
        coactivity_sums(torch.ones(4, 7), torch.ones(6, 5, 3))


def test_running_window_sums_the_batches_since_reset_in_one_slot():
    from snnkit.sparse.hebbian import CoactivityWindow, coactivity

    g = torch.Generator().manual_seed(0)
    batches = [((torch.rand(4, 3, 5, generator=g) < 0.4).float(), (torch.rand(4, 3, 6, generator=g) < 0.3).float())
               for _ in range(3)]
    w = CoactivityWindow(3, running=True)
    w.update(*batches[0])  # stale: dropped by the reset
    w.reset()
    for pre, post in batches[1:]:
        w.update(pre, post)
    pre = torch.cat([b[0] for b in batches[1:]], 1)
    post = torch.cat([b[1] for b in batches[1:]], 1)
    assert torch.allclose(w.score(), coactivity(pre, post), atol=1e-6)
    assert w.state_dict()["cross"].shape == (1, 6, 5) and w.batches == 2  # one slot, whatever the window
    w.update(*batches[0])
    with pytest.raises(RuntimeError, match="more than window=3"):
        w.update(*batches[0])


def test_dst_with_a_window_shorter_than_every_keeps_one_slot_and_scores_the_last_window():
    """window 2 < every 5: the statistics at each event are exactly the two steps before it."""
    from types import SimpleNamespace

    from torch import nn

    from snnkit.sparse import DynamicSparseTraining, MaskedLinear
    from snnkit.sparse.hebbian import coactivity

    model = nn.Sequential(MaskedLinear(5, 6, torch.rand(6, 5) < 0.5), nn.Identity())
    dst = DynamicSparseTraining(every=5, window=2, prune="hebb", grow="hebb", post={"0": "1"})
    dst.attach(model)
    assert dst.stats["0"].running
    g = torch.Generator().manual_seed(1)
    steps, scores = {}, {}
    dst.rewire = lambda optimizer=None, step=None: scores.__setitem__(step, dst.stats["0"].score().clone())
    for step in range(1, 11):
        pre = (torch.rand(3, 4, 5, generator=g) < 0.5).float()
        post = (torch.rand(3, 4, 6, generator=g) < 0.5).float()
        steps[step] = (pre, post)
        activity = {"0": SimpleNamespace(input=pre), "1": SimpleNamespace(output=post)}
        dst.on_step_end(SimpleNamespace(global_step=step, activity=activity, optimizer=None))
    for event in (5, 10):
        pre = torch.cat([steps[event - 1][0], steps[event][0]], 1)
        post = torch.cat([steps[event - 1][1], steps[event][1]], 1)
        assert torch.allclose(scores[event], coactivity(pre, post), atol=1e-6), event
    assert dst.stats["0"].state_dict()["cross"].shape[0] == 1

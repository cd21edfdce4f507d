"""snnkit.stdp.compiled: the event-driven STDP step against the public wave operators (``fire``,
``pointwise_inhibition``, ``get_k_winners``, ``stdp``) on random layers, and against the tensor path of
:meth:`StdpNet.stdp_step` over T from 1 to 200; the event-driven spike counts (every neuron of a layer) against
``fire`` on the full wave and against the tensor path of the networks' forward passes; the event-driven
last-step potentials (the decision layers) and pooled spikes (the threshold layers on the inference path) against
the convolution; the compiled update from spike counts against
:func:`snnkit.stdp.learning.apply_counts`, and the transposed copy it keeps in step. The weights are multiples of 1/32, so every potential is exact in
float32 whatever the order of summation and the paths must agree bit for bit (ties included: coarse weights make
equal potentials common)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from snnkit.models.stdp_nets import StdpNet, from_times
from snnkit.stdp import functional as sf
from snnkit.stdp import learning as sl
from snnkit.stdp.compiled import (
    apply_counts_events,
    fired_pooled_events,
    last_potentials_events,
    layer_counts_events,
    stdp_step_events,
    transposed,
)


def _dyadic(shape: tuple[int, ...], g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    return (torch.randint(round(lo * 32), round(hi * 32) + 1, shape, generator=g) / 32).to(torch.float32)


def _wave_reference(weight, times, sides, t_steps, theta, k, r, rates, stabilizer, bounds):
    """One STDP step through the wave operators, SpykeTorch's order: returns (winners, new weight)."""
    b = times.shape[0]
    padded = sf.pad(from_times(times, t_steps), sides)  # [B, T, C, H, W]
    pot = F.conv2d(padded.flatten(0, 1), weight).unflatten(0, (b, t_steps))
    _, thresholded = sf.fire(pot, theta, True)
    inhibited = sf.pointwise_inhibition(thresholded)
    spikes = inhibited.sign()
    winners = sf.get_k_winners(inhibited, k, r, spikes)
    per_sample = rates[:, None, :].expand(-1, weight.shape[0], -1)
    return winners, sl.stdp(weight, padded, spikes, winners, per_sample, stabilizer=stabilizer, bounds=bounds)


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 4), f=st.integers(1, 6), kh=st.integers(1, 4), kw=st.integers(1, 4),
       h=st.integers(0, 6), w=st.integers(0, 6), sides=st.tuples(*[st.integers(0, 2)] * 4),
       t_steps=st.sampled_from([1, 2, 3, 7, 15]), b=st.integers(1, 4), k=st.integers(1, 4), r=st.integers(0, 2),
       theta=st.sampled_from([0.0, 0.5, 1.0, 2.5]), stabilizer=st.booleans(), lower=st.sampled_from([0.0, 0.25]),
       seed=st.integers(0, 2 ** 16))
def test_compiled_step_equals_the_wave_operators(c, f, kh, kw, h, w, sides, t_steps, b, k, r, theta, stabilizer,
                                                 lower, seed):
    g = torch.Generator().manual_seed(seed)
    h, w = h + max(1, kh - sides[2] - sides[3]), w + max(1, kw - sides[0] - sides[1])  # the kernel fits
    weight = _dyadic((f, c, kh, kw), g, lower, 1.0)
    times = torch.randint(0, t_steps + 2, (b, c, h, w), generator=g).clamp(max=t_steps).to(torch.uint8)
    rates = torch.tensor([[0.004, -0.003], [0.25, -0.125], [0.5, 0.0], [-0.125, 0.0625]])[:b]
    bounds = (lower, 1.0)
    want_winners, want_weight = _wave_reference(weight, times, sides, t_steps, theta, k, r, rates, stabilizer,
                                                bounds)
    got_weight = weight.clone()
    winners = stdp_step_events(got_weight, times, sides, t_steps, theta, k, r, rates, stabilizer, bounds)
    assert winners.dtype == torch.long and torch.equal(winners, want_winners)
    assert torch.equal(got_weight, want_weight)


@pytest.mark.parametrize("t_steps", [1, 2, 5, 15, 16, 40, 200])
@pytest.mark.parametrize(("name", "block", "batch"), [("conv1", 0, 1), ("conv1", 0, 5), ("conv2", 1, 1),
                                                      ("conv2", 1, 3)])
def test_compiled_and_tensor_paths_agree_over_t(t_steps, name, block, batch):
    """Three steps in a row (a new batch each time) on the same weights: winners and weights identical."""
    g = torch.Generator().manual_seed(t_steps)
    nets = [StdpNet("mozafari2018", time_steps=t_steps, seed=3) for _ in range(2)]
    weight = _dyadic(tuple(nets[0].weight(name).shape), g, 0.5, 1.0)
    for net, compiled in zip(nets, (True, False)):
        net.weight(name).copy_(weight)
        net.compiled = compiled
    shape = (6, 28, 28) if block == 0 else nets[0].output_shape(block - 1)
    for step in range(3):
        times = torch.randint(0, t_steps * 3, (batch, *shape), generator=g).clamp(max=t_steps).to(torch.uint8)
        rates = torch.tensor([[0.004 * 2 ** step, -0.003 * 2 ** step]] * batch)
        got, want = (net.stdp_step(name, times, rates) for net in nets)
        assert torch.equal(got, want), f"step {step}"
        assert torch.equal(nets[0].weight(name), nets[1].weight(name)), f"step {step}"
        if step == 0:
            assert int((got[..., 0] >= 0).sum()) > 0, "nothing won: not a meaningful check"


def test_compiled_step_updates_only_the_winners_kernels_in_place():
    net = StdpNet("mozafari2018", seed=2)
    g = torch.Generator().manual_seed(0)
    times = torch.randint(0, 30, (2, 6, 28, 28), generator=g).clamp(max=15).to(torch.uint8)
    w = net.weight("conv1")
    before, version = w.clone(), w._version
    winners = stdp_step_events(w, times, net.specs["conv1"].sides, 15, 15.0, 5, 3,
                               torch.tensor([[0.004, -0.003]] * 2), True, (0.0, 1.0))
    won = winners[..., 0][winners[..., 0] >= 0].unique()
    changed = (w != before).flatten(1).any(dim=1).nonzero().squeeze(1)
    assert won.numel() > 0 and torch.equal(changed, won)
    assert net.weight("conv1") is w and w._version > version  # in place, and the version counter moved on


def test_a_trained_layer_continues_identically_after_a_deep_copy():
    """The compiled path keeps no state between calls: a copied network resumes bit for bit."""
    net = StdpNet("mozafari2018", seed=6)
    g = torch.Generator().manual_seed(1)
    data = torch.randint(0, 25, (6, 6, 28, 28), generator=g).clamp(max=15).to(torch.uint8)
    rates = torch.tensor([[0.004, -0.003]])
    for i in range(3):
        net.stdp_step("conv1", data[i:i + 1], rates)
    twin = copy.deepcopy(net)
    for i in range(3, 6):
        a, b_ = net.stdp_step("conv1", data[i:i + 1], rates), twin.stdp_step("conv1", data[i:i + 1], rates)
        assert torch.equal(a, b_)
    assert torch.equal(net.weight("conv1"), twin.weight("conv1"))


# ------------------------------------------------------------------------------ event-driven spike counts
@settings(max_examples=80, deadline=None)
@given(c=st.integers(1, 4), f=st.integers(1, 6), kh=st.integers(1, 4), kw=st.integers(1, 4),
       h=st.integers(0, 6), w=st.integers(0, 6), sides=st.tuples(*[st.integers(0, 2)] * 4),
       t_steps=st.sampled_from([1, 2, 3, 7, 15, 40]), b=st.integers(1, 4),
       theta=st.sampled_from([0.0, 0.5, 1.0, 2.5]), values=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_event_counts_equal_fire_on_the_full_wave(c, f, kh, kw, h, w, sides, t_steps, b, theta, values, seed):
    """Every neuron's spiking-step count is the number of steps its potential exceeds θ on the full wave, and
    its value the potential at the first of them (0 for a neuron that never fires); silent samples included."""
    g = torch.Generator().manual_seed(seed)
    h, w = h + max(1, kh - sides[2] - sides[3]), w + max(1, kw - sides[0] - sides[1])
    weight = _dyadic((f, c, kh, kw), g)
    times = torch.randint(0, t_steps + 2, (b, c, h, w), generator=g).clamp(max=t_steps).to(torch.uint8)
    times[-1] = t_steps
    pot = F.conv2d(sf.pad(from_times(times, t_steps), sides).flatten(0, 1), weight).unflatten(0, (b, t_steps))
    above = pot > theta
    want_counts = above.sum(dim=1)
    first = above.long().argmax(dim=1, keepdim=True)
    want_values = torch.where(want_counts > 0, pot.gather(1, first).squeeze(1), 0.0)
    counts, got_values = layer_counts_events(weight, times, sides, t_steps, theta, values)
    assert counts.dtype == torch.long and torch.equal(counts, want_counts)
    if values:
        assert torch.equal(got_values, want_values)
    else:
        assert got_values is None


@pytest.mark.parametrize("model", ["mozafari2018", "deepr2024", "inception2024", "majority2024"])
@pytest.mark.parametrize("t_steps", [1, 15, 40])
def test_compiled_and_tensor_forward_passes_agree(model, t_steps):
    """The feature caches (every block) and the R-STDP training forward (winners, counts, predictions) of the
    compiled and tensor paths, on dyadic weights: identical, with something firing at every layer."""
    g = torch.Generator().manual_seed(t_steps)
    nets = [StdpNet(model, time_steps=t_steps, seed=4) for _ in range(2)]
    for name in nets[0].layer_names:
        lo = 0.0 if nets[0].specs[name].threshold is None else 0.5
        weight = _dyadic(tuple(nets[0].weight(name).shape), g, lo, 1.0)
        for net, compiled in zip(nets, (True, False)):
            net.weight(name).copy_(weight)
            net.compiled = compiled
    times = torch.randint(0, t_steps * 2, (9, 6, 28, 28), generator=g).clamp(max=t_steps).to(torch.uint8)
    times[4] = t_steps
    last = len(nets[0].arch.blocks) - 1
    for block in range(1, last + 1):
        got, want = (net.features_times(times, block) for net in nets)
        assert torch.equal(got, want), f"block {block}"
        assert bool((got < t_steps).any()), f"block {block}: nothing fires, not a meaningful check"
    learners = [p.learners for p in nets[0].phases if p.rule == "rstdp"][0]
    block = min(i for i, b_ in enumerate(nets[0].arch.blocks) if any(s.name in learners for s in b_.layers))
    cached = nets[0].features_times(times, block)
    got, want = (net.rstdp_forward(block, cached, learners) for net in nets)
    assert torch.equal(got["pred"], want["pred"]) and torch.equal(got["branch_pred"], want["branch_pred"])
    assert got["ctx"].keys() == want["ctx"].keys()
    for name in got["ctx"]:
        for a, b_ in zip(got["ctx"][name], want["ctx"][name]):
            assert torch.equal(a, b_), name


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 3), f=st.integers(1, 5), kh=st.integers(1, 3), kw=st.integers(1, 3), b=st.integers(1, 4),
       k=st.integers(1, 4), t_steps=st.sampled_from([1, 3, 15]), stabilizer=st.booleans(),
       bounds=st.sampled_from([(0.0, 1.0), (0.2, 0.8)]), seed=st.integers(0, 2 ** 16))
def test_compiled_update_equals_apply_counts(c, f, kh, kw, b, k, t_steps, stabilizer, bounds, seed):
    """Any float weights, winners with repeated features within and across samples and -1 rows, per-sample and
    per-feature rates of both signs: the same weights bit for bit (the same arithmetic, in the same order)."""
    g = torch.Generator().manual_seed(seed)
    h, w = kh + 2, kw + 2
    weight = torch.rand(f, c, kh, kw, generator=g) * (bounds[1] - bounds[0]) + bounds[0]
    pre = torch.randint(0, t_steps + 1, (b, c, h, w), generator=g)
    post = torch.randint(0, t_steps + 1, (b, f, h - kh + 1, w - kw + 1), generator=g)
    winners = torch.stack([torch.randint(-1, f, (b, k), generator=g), torch.randint(0, h - kh + 1, (b, k), generator=g),
                           torch.randint(0, w - kw + 1, (b, k), generator=g)], dim=2)
    winners[winners[..., 0] < 0] = -1
    rates = (torch.rand(b, f, 2, generator=g) - 0.5) * 0.2
    want = sl.apply_counts(weight, pre, post, winners, rates, stabilizer, *bounds, False)
    got = weight.clone()
    version = got._version
    assert apply_counts_events(got, pre, post, winners, rates, stabilizer, *bounds) is got
    assert torch.equal(got, want)
    assert got._version > version  # what the decision layers' cached matrices are keyed on
    mirrored, mirror = weight.clone(), transposed(weight)
    apply_counts_events(mirrored, pre, post, winners, rates, stabilizer, *bounds, mirror=mirror)
    assert torch.equal(mirrored, want) and torch.equal(mirror, transposed(want))


# ------------------------------------------------------------------------------ last-step potentials
@settings(max_examples=80, deadline=None)
@given(c=st.integers(1, 4), f=st.integers(1, 6), kh=st.integers(1, 5), kw=st.integers(1, 5),
       h=st.integers(0, 6), w=st.integers(0, 6), sides=st.tuples(*[st.integers(0, 2)] * 4),
       t_steps=st.sampled_from([1, 2, 15, 40]), b=st.integers(1, 4), keep_wt=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_event_last_potentials_equal_the_convolution(c, f, kh, kw, h, w, sides, t_steps, b, keep_wt, seed):
    """The potentials at the last step (every input spike of every step summed) equal the convolution of the padded
    last-step spikes, with the transposed copy passed in or made inside; silent samples give zeros."""
    g = torch.Generator().manual_seed(seed)
    h, w = h + max(1, kh - sides[2] - sides[3]), w + max(1, kw - sides[0] - sides[1])
    weight = _dyadic((f, c, kh, kw), g)
    times = torch.randint(0, t_steps + 2, (b, c, h, w), generator=g).clamp(max=t_steps).to(torch.uint8)
    times[-1] = t_steps
    want = F.conv2d(F.pad((times < t_steps).float(), sides), weight)
    got = last_potentials_events(weight, times, sides, t_steps, wt=transposed(weight) if keep_wt else None)
    assert got.shape == want.shape and got.is_contiguous()
    assert torch.equal(got, want)
    assert not bool(got[-1].any())


def test_the_networks_transposed_weights_follow_every_change():
    """R-STDP steps write the cached transposed decision weight alongside the weight (the same tensor is kept, and
    it equals the weight transposed); any other in-place change (a checkpoint loaded) makes a new one."""
    net = StdpNet("mozafari2018", seed=3)
    g = torch.Generator().manual_seed(0)
    times = torch.randint(0, 16, (8, *net.output_shape(1)), generator=g).clamp(max=15).to(torch.uint8)
    targets = torch.randint(0, 10, (8,), generator=g)
    rates = {"conv3": (net.specs["conv3"].reward, net.specs["conv3"].punish)}
    kept = net._transposed("conv3")
    for start in range(0, 8, 2):
        out = net.rstdp_forward(2, times[start:start + 2], ("conv3",))
        net.rstdp_step(("conv3",), out, {"conv3": out["pred"] == targets[start:start + 2]}, rates)
        assert net._transposed("conv3") is kept
        assert torch.equal(kept, transposed(net.weight("conv3")))
    before = copy.deepcopy(net.state_dict())
    assert not torch.equal(before["w_conv3"], StdpNet("mozafari2018", seed=3).weight("conv3"))
    net.load_state_dict(StdpNet("mozafari2018", seed=3).state_dict())
    fresh = net._transposed("conv3")
    assert fresh is not kept and torch.equal(fresh, transposed(net.weight("conv3")))


@pytest.mark.parametrize(("batch", "fired", "events"), [(1, 0.9, True), (4, 0.9, True), (8, 0.2, True),
                                                        (8, 0.9, False)])
def test_the_decision_forward_sums_spikes_when_the_batch_is_small_or_sparse(monkeypatch, batch, fired, events):
    """The R-STDP forward of a decision layer takes the spike sums for small or sparse batches and the convolution
    for large dense ones; either way the same decisions and learning context as the tensor path (dyadic weights)."""
    import snnkit.models.stdp_nets as stdp_nets

    calls = []
    real = stdp_nets.last_potentials_events
    monkeypatch.setattr(stdp_nets, "last_potentials_events", lambda *a, **k: calls.append(1) or real(*a, **k))
    g = torch.Generator().manual_seed(batch)
    nets = [StdpNet("mozafari2018", seed=1) for _ in range(2)]
    weight = _dyadic(tuple(nets[0].weight("conv3").shape), g)
    for net, compiled in zip(nets, (True, False)):
        net.weight("conv3").copy_(weight)
        net.compiled = compiled
    times = torch.where(torch.rand(batch, *nets[0].output_shape(1), generator=g) < fired, 0, 15).to(torch.uint8)
    got, want = (net.rstdp_forward(2, times, ("conv3",)) for net in nets)
    assert bool(calls) == events
    assert torch.equal(got["pred"], want["pred"]) and bool((got["pred"] >= 0).all())
    for a, b_ in zip(got["ctx"]["conv3"], want["ctx"]["conv3"]):
        assert torch.equal(a, b_)


# ------------------------------------------------------------------------------ last-step pooled spikes
@settings(max_examples=80, deadline=None)
@given(c=st.integers(1, 4), f=st.integers(1, 9), k=st.integers(1, 5), h=st.integers(0, 7),
       sides=st.tuples(*[st.integers(0, 2)] * 4), window=st.integers(1, 3), stride=st.integers(1, 3),
       out_pad=st.integers(0, 2), theta=st.sampled_from([0.0, 0.5, 1.5, 3.0]), b=st.integers(1, 5),
       jobs=st.integers(1, 3), channels_last=st.booleans(), double=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_pooled_spikes_equal_convolution_threshold_and_pooling(c, f, k, h, sides, window, stride, out_pad, theta, b,
                                                              jobs, channels_last, double, seed):
    """Spike sums, θ and max pooling in one pass equal the convolution of the padded spikes, fired where above θ,
    zero-padded by ``out_pad`` and max-pooled — for any thread count, input layout and weight dtype."""
    g = torch.Generator().manual_seed(seed)
    size = h + max(1, k - min(sides[0] + sides[1], sides[2] + sides[3]))  # every padded side >= k
    weight = _dyadic((f, c, k, k), g).to(torch.float64 if double else torch.float32)
    x = (torch.rand(b, c, size, size, generator=g) < 0.4).to(weight.dtype)
    x[-1] = 0
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    fired = F.conv2d(F.pad(x, sides), weight).gt(theta).to(weight.dtype)
    fired = F.pad(fired, (out_pad,) * 4)
    if fired.shape[2] < window or fired.shape[3] < window:
        return  # no such layer (the pooling window is larger than its input)
    want = F.max_pool2d(fired, window, stride)
    got = fired_pooled_events(weight, x, sides, theta, (window, stride), out_pad,
                              wt=transposed(weight) if jobs == 2 else None, jobs=jobs)
    assert got.dtype == weight.dtype and got.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(got, want)
    assert not bool(got[-1].any())


@pytest.mark.parametrize("model", ["mozafari2018", "inception2024"])
@pytest.mark.parametrize(("fired", "events"), [(0.05, True), (0.5, False)])
def test_inference_sums_spikes_when_a_blocks_input_is_sparse(monkeypatch, model, fired, events):
    """The last-step inference path sums the spikes of a sparse block input (the compiled pass) and convolves a
    dense one; either way the same spikes as the tensor path (dyadic weights), branches and output padding
    included."""
    import snnkit.models.stdp_nets as stdp_nets

    calls = []
    real = stdp_nets.fired_pooled_events
    monkeypatch.setattr(stdp_nets, "fired_pooled_events", lambda *a, **k: calls.append(1) or real(*a, **k))
    g = torch.Generator().manual_seed(7)
    nets = [StdpNet(model, seed=2) for _ in range(2)]
    for name in nets[0].layer_names:
        weight = _dyadic(tuple(nets[0].weight(name).shape), g, 0.0, 0.5)
        for net in nets:
            net.weight(name).copy_(weight)
    nets[1].compiled = False
    x = (torch.rand(6, *nets[0].output_shape(0), generator=g) < fired).float()
    got, want = (net.last_step_features(x, len(net.arch.blocks) - 1, start=1) for net in nets)
    assert bool(calls) == events
    assert torch.equal(got, want) and got.is_contiguous()

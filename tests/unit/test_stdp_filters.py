"""snnkit.stdp.filters: DoG kernel values worked out by hand, the threshold and local normalisation of the
S1C1 pipeline, intensity-to-latency bins on tiny inputs (including a remainder and fewer non-zero values
than bins, the two bugs of the original), batched == per-sample, and bad arguments."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnkit.errors import ConfigError
from snnkit.stdp.filters import (
    MOZAFARI_DOG,
    dog_filter,
    dog_kernel,
    dog_kernels,
    intensity_to_latency,
    latency_times,
    s1c1,
)
from snnkit.stdp.functional import local_normalization


def _expected_3x3(sigma_centre: float, sigma_surround: float) -> torch.Tensor:
    """The 3x3 DoG by hand: r² is 0 at the centre, 1 at the 4 edges, 2 at the 4 corners."""
    def g(s, r2):
        return math.exp(-r2 / (2 * s * s)) / (s * s)

    raw = [(g(sigma_centre, r2) - g(sigma_surround, r2)) / (2 * math.pi) for r2 in (0, 1, 2)]
    mean = (raw[0] + 4 * raw[1] + 4 * raw[2]) / 9
    centre, edge, corner = (v - mean for v in raw)
    peak = max(centre, edge, corner)
    c, e, k = centre / peak, edge / peak, corner / peak
    return torch.tensor([[k, e, k], [e, c, e], [k, e, k]], dtype=torch.float64)


def test_dog_kernel_3x3_hand_computed():
    on = dog_kernel(3, 3 / 9, 6 / 9, dtype=torch.float64)
    off = dog_kernel(3, 6 / 9, 3 / 9, dtype=torch.float64)
    torch.testing.assert_close(on, _expected_3x3(1 / 3, 2 / 3), rtol=0, atol=1e-12)
    torch.testing.assert_close(off, _expected_3x3(2 / 3, 1 / 3), rtol=0, atol=1e-12)
    # the same numbers written out (centre, edge, corner)
    assert on[1, 1].item() == pytest.approx(1.0)
    assert on[0, 1].item() == pytest.approx(-0.155888173, abs=1e-8)
    assert on[0, 0].item() == pytest.approx(-0.094111827, abs=1e-8)
    assert off[1, 1].item() == pytest.approx(-6.414854815, abs=1e-8)
    assert off[0, 1].item() == pytest.approx(1.0)
    assert off[0, 0].item() == pytest.approx(0.603713704, abs=1e-8)


@pytest.mark.parametrize("spec", MOZAFARI_DOG)
def test_dog_kernel_zero_mean_unit_max_symmetric(spec):
    window, s_c, s_s = spec
    k = dog_kernel(window, s_c, s_s, dtype=torch.float64)
    assert k.shape == (window, window)
    assert abs(k.sum().item()) < 1e-10
    assert k.max().item() == 1.0
    for other in (k.t(), k.flip(0), k.flip(1)):
        torch.testing.assert_close(other, k, rtol=0, atol=0)
    centre = k[window // 2, window // 2].item()
    assert (centre == 1.0) if s_c < s_s else (centre < 0)  # on-centre peaks at the centre, off dips


def test_dog_kernels_bank_is_centred_and_zero_padded():
    bank = dog_kernels()
    assert bank.shape == (6, 1, 13, 13) and bank.dtype == torch.float32
    small = dog_kernel(3, 3 / 9, 6 / 9)
    torch.testing.assert_close(bank[0, 0, 5:8, 5:8], small, rtol=0, atol=0)
    assert bank[0, 0].abs().sum().item() == pytest.approx(small.abs().sum().item())  # zeros elsewhere
    torch.testing.assert_close(bank[3, 0, 3:10, 3:10], dog_kernel(7, 14 / 9, 7 / 9), rtol=0, atol=0)


def test_dog_filter_threshold_keeps_equal_drops_below():
    kernel = dog_kernel(3, 1 / 3, 2 / 3).view(1, 1, 3, 3)
    image = torch.zeros(1, 1, 5, 5)
    image[0, 0, 2, 2] = 10.0
    raw = dog_filter(image, kernel, padding=1, threshold=0.0)
    # a delta in, the (symmetric) kernel out, negatives removed by threshold 0
    expected = torch.zeros(5, 5)
    expected[1:4, 1:4] = (10 * kernel[0, 0]).clamp_min(0)
    torch.testing.assert_close(raw[0, 0], expected)
    kept = dog_filter(image, kernel, padding=1, threshold=10.0)  # the centre equals the threshold: kept
    assert kept[0, 0, 2, 2].item() == 10.0 and kept.count_nonzero().item() == 1
    assert dog_filter(image, kernel, padding=1, threshold=10.5).count_nonzero().item() == 0
    assert dog_filter(image, kernel, padding=0, threshold=0.0).shape == (1, 1, 3, 3)


def test_local_normalization_hand_computed():
    x = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    y = local_normalization(x, 1)
    # zero padding counts in the 3x3 mean: centre 9/9, edge 6/9, corner 4/9
    expected = torch.tensor([[9 / 4, 9 / 6, 9 / 4], [9 / 6, 1.0, 9 / 6], [9 / 4, 9 / 6, 9 / 4]],
                            dtype=torch.float64)
    torch.testing.assert_close(y[0, 0], expected)
    z = torch.tensor([[[[0.0, 2.0, 0.0]]]], dtype=torch.float64)
    assert local_normalization(z, 0)[0, 0, 0].tolist() == pytest.approx([0.0, 1.0, 0.0])


def _times(values, T):
    return latency_times(torch.tensor([values], dtype=torch.float32).view(1, 1, 1, -1), T).flatten().tolist()


def test_latency_divisible_count_matches_the_original_split():
    # 6 non-zero values, 3 bins of 2, strongest first
    assert _times([6, 5, 4, 3, 2, 1], 3) == [0, 0, 1, 1, 2, 2]
    assert _times([1, 2, 3, 4, 5, 6], 3) == [2, 2, 1, 1, 0, 0]


def test_latency_remainder_fires_too():
    # 7 values in 3 bins: rank i -> floor(3 i / 7) = 0 0 0 1 1 2 2; the original left one silent
    assert _times([7, 6, 5, 4, 3, 2, 1], 3) == [0, 0, 0, 1, 1, 2, 2]


def test_latency_fewer_nonzero_than_bins():
    # 2 non-zero values, 5 bins: ranks 0 and 1 -> bins 0 and floor(5/2) = 2; zeros never fire (time T)
    assert _times([0, 3, 0, 5], 5) == [5, 2, 5, 0]
    assert _times([0, 0, 4, 0], 15) == [15, 15, 0, 15]
    assert _times([0, 0, 0], 4) == [4, 4, 4]
    wave = intensity_to_latency(torch.zeros(1, 2, 2, 2), 4)
    assert wave.shape == (1, 4, 2, 2, 2) and wave.count_nonzero().item() == 0


def test_latency_ties_by_flat_index_and_negatives_last():
    assert _times([2, 2, 2, 2], 2) == [0, 0, 1, 1]
    assert _times([1, 3, 1, 3], 4) == [2, 0, 3, 1]
    assert _times([-1, 0, 2], 2) == [1, 2, 0]


def test_intensity_to_latency_cumulative_wave_by_hand():
    x = torch.tensor([1.0, 3.0, 2.0]).view(1, 1, 1, 3)
    wave = intensity_to_latency(x, 3)
    assert wave.shape == (1, 3, 1, 1, 3) and wave.dtype == torch.float32
    assert wave[0, :, 0, 0].tolist() == [[0, 1, 0], [0, 1, 1], [1, 1, 1]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=30), st.integers(1, 8))
def test_latency_every_nonzero_fires_balanced_and_ordered(values, T):
    x = torch.tensor(values, dtype=torch.float32).view(1, 1, 1, -1)
    times = latency_times(x, T).flatten()
    nz = x.flatten() != 0
    assert bool((times[nz] < T).all()) and bool((times[~nz] == T).all())
    sizes = torch.bincount(times[nz], minlength=T)
    n = int(nz.sum())
    if n >= T:
        assert int(sizes.max()) - int(sizes.min()) <= 1
    else:  # n < T: n distinct bins
        assert int(sizes.max()) <= 1
    flat = x.flatten()
    for i in range(len(values)):  # a strictly larger value never fires later
        for j in range(len(values)):
            if nz[i] and nz[j] and flat[i] > flat[j]:
                assert times[i] <= times[j]


def _images(batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    imgs = torch.rand(batch, 1, 28, 28, generator=g)
    imgs = imgs * (torch.rand(batch, 1, 28, 28, generator=g) < 0.3)  # sparse strokes
    imgs[0] = 0.0  # an empty image
    imgs[1] = 0.0
    imgs[1, 0, 14, 14] = 1.0  # a single pixel: few non-zero responses
    return imgs


def test_s1c1_batched_equals_per_sample_loop():
    imgs = _images(5)
    batched = s1c1(imgs)
    assert batched.shape == (5, 15, 6, 28, 28)
    looped = torch.cat([s1c1(imgs[i:i + 1]) for i in range(5)])
    assert torch.equal(batched, looped)
    assert batched[0].count_nonzero().item() == 0


def test_latency_batched_equals_per_sample_loop():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 4, (6, 3, 5, 5), generator=g).float() * (torch.rand(6, 3, 5, 5, generator=g) < 0.2)
    times = latency_times(x, 7)
    assert torch.equal(times, torch.cat([latency_times(x[i:i + 1], 7) for i in range(6)]))
    wave = intensity_to_latency(x, 7)
    assert torch.equal(wave, torch.cat([intensity_to_latency(x[i:i + 1], 7) for i in range(6)]))


def test_s1c1_every_normalised_value_fires_and_pad():
    imgs = _images(3, seed=2)
    wave = s1c1(imgs)
    filtered = dog_filter(imgs * 255.0, dog_kernels(), padding=6, threshold=50.0)
    normalised = local_normalization(filtered, 8)
    assert torch.equal(wave[:, -1].bool(), normalised != 0)  # the last bin holds every non-zero value
    assert bool((wave[:, 1:] >= wave[:, :-1]).all())  # cumulative
    padded = s1c1(imgs, pad=2)
    assert padded.shape == (3, 15, 6, 32, 32)
    assert torch.equal(padded[..., 2:-2, 2:-2], wave) and padded.sum() == wave.sum()


@pytest.mark.parametrize("call, key", [
    (lambda: dog_kernel(4, 1.0, 2.0), "window"),
    (lambda: dog_kernel(0, 1.0, 2.0), "window"),
    (lambda: dog_kernel(3, 0.0, 2.0), "sigma_centre"),
    (lambda: dog_kernel(3, 1.0, 1.0), "sigma"),
    (lambda: dog_filter(torch.zeros(1, 1, 4, 4), dog_kernels(), padding=0), "kernel size"),
    (lambda: dog_filter(torch.zeros(1, 1, 8, 8), dog_kernels(), threshold=-1.0), "threshold"),
    (lambda: dog_filter(torch.zeros(1, 8, 8), dog_kernels()), "images.shape"),
    (lambda: latency_times(torch.ones(1, 3), 0), "time_steps"),
    (lambda: s1c1(torch.zeros(1, 1, 8, 8), normalization_radius=-1), "normalization_radius"),
    (lambda: s1c1(torch.zeros(1, 1, 8, 8), pad=-2), "pad"),
])
def test_bad_arguments_raise_config_error(call, key):
    with pytest.raises(ConfigError, match=key):
        call()


def test_s1c1_times_counts_the_waves_spikes():
    from snnkit.models.stdp_nets import to_times
    from snnkit.stdp.filters import s1c1_times

    g = torch.Generator().manual_seed(3)
    images = torch.rand(5, 1, 28, 28, generator=g) * (torch.rand(5, 1, 28, 28, generator=g) > 0.6)
    for t in (1, 4, 15):
        times = s1c1_times(images, time_steps=t)
        assert times.dtype == torch.uint8 and times.shape == (5, 6, 28, 28)
        assert torch.equal(times, to_times(s1c1(images, time_steps=t)))


def test_s1c1_times_rejects_more_than_255_steps():
    from snnkit.stdp.filters import s1c1_times

    with pytest.raises(ConfigError, match="time_steps"):
        s1c1_times(torch.zeros(1, 1, 28, 28), time_steps=256)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from([0.0, -0.0, 1.0, 2.0, 2.5, -1.0, -3.0, 1e-30, 7.0]), min_size=1, max_size=40),
       st.integers(1, 3), st.integers(1, 16))
def test_latency_compiled_path_equals_the_sorting_path(values, batch, T):
    """float32 on CPU takes the compiled path (one sort of int64 keys per row), float64 the tensor sort: the
    same ranking (value descending, then index; zeros of either sign never fire)."""
    g = torch.Generator().manual_seed(len(values) * 31 + batch)
    x = torch.tensor(values, dtype=torch.float32).repeat(batch, 1)
    x = x[:, torch.randperm(len(values), generator=g)].reshape(batch, 1, 1, -1)
    assert torch.equal(latency_times(x, T), latency_times(x.double(), T))


def test_local_normalization_compiled_equals_the_box_mean():
    """The compiled summed-area table against the definition: the mean over the (2r+1)² window of the
    zero-padded map (divisor always (2r+1)², also where the window is larger than the map)."""
    g = torch.Generator().manual_seed(3)
    x = torch.rand(3, 6, 28, 28, generator=g) * 300 * (torch.rand(3, 6, 28, 28, generator=g) < 0.3)
    for r in (0, 1, 8, 20):
        padded = torch.nn.functional.pad(x.double(), (r, r, r, r))
        want = x / (torch.nn.functional.avg_pool2d(padded, 2 * r + 1, stride=1).float() + 1e-12)
        torch.testing.assert_close(local_normalization(x, r), want, rtol=1e-6, atol=1e-6)


def test_dog_filter_compiled_equals_the_convolution(monkeypatch):
    """The compiled DoG filter (each kernel over its non-zero support, zero rows skipped) against F.conv2d
    with the zero-padded bank, on sparse images, an empty one and a bank with an all-zero kernel."""
    imgs = _images(4) * 255.0
    bank = torch.cat([dog_kernels(), torch.zeros(1, 1, 13, 13)])
    for padding, threshold in ((6, 50.0), (6, 0.0), (0, 10.0), (8, 0.0)):
        got = dog_filter(imgs, bank, padding=padding, threshold=threshold)
        raw = torch.nn.functional.conv2d(imgs.double(), bank.double(), padding=padding)
        want = raw.masked_fill(raw < threshold, 0.0).float()
        assert got.shape == want.shape
        # round-off may move a response across the threshold only where it is within round-off of it
        close = (raw - threshold).abs() < 1e-3
        torch.testing.assert_close(got[~close], want[~close], rtol=1e-5, atol=1e-3)
        assert bool(got[:, -1].eq(0).all())  # the all-zero kernel


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 3), st.integers(1, 30), st.integers(0, 2**31 - 1))
def test_latency_radix_sort_equals_the_sorting_path_on_random_floats(n, batch, T, seed):
    """Random magnitudes over many binades (every radix pass has work), repeated values and zeros."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n, generator=g) * 10.0 ** torch.randint(-20, 20, (batch, n), generator=g)
    x = torch.where(torch.rand(batch, n, generator=g) < 0.3, x.roll(1, 1), x)  # ties
    x = torch.where(torch.rand(batch, n, generator=g) < 0.3, torch.zeros(()), x)
    assert torch.equal(latency_times(x, T), latency_times(x.double(), T))

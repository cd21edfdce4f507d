"""Input encodings (G2GNet: current and rate)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from snnkit.data import ENCODINGS, current, encode, rate
from snnkit.errors import ConfigError


def test_current_is_exact_and_an_expand():
    x = torch.rand(4, 1, 3, 3)
    out = current(x, 7, scale=2.5, bias=-0.25)
    assert out.shape == (7, 4, 1, 3, 3)
    assert out.stride(0) == 0  # expanded view, no copy of the T steps
    for t in range(7):
        assert torch.equal(out[t], x * 2.5 - 0.25)
    plain = current(x, 3)
    assert plain.data_ptr() == x.data_ptr()  # scale 1, bias 0: the input itself, broadcast


def test_current_gradient_flows():
    x = torch.rand(2, 5, requires_grad=True)
    current(x, 4, scale=3.0).sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, 12.0))


def test_rate_shape_values_and_determinism():
    x = torch.rand(3, 2, 5)
    a = rate(x, 6, generator=torch.Generator().manual_seed(1))
    b = rate(x, 6, generator=torch.Generator().manual_seed(1))
    c = rate(x, 6, generator=torch.Generator().manual_seed(2))
    assert a.shape == (6, 3, 2, 5) and a.dtype == x.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(rate(torch.zeros(4), 5), torch.zeros(5, 4))
    assert torch.equal(rate(torch.ones(4), 5), torch.ones(5, 4))


@given(p=st.floats(min_value=0.0, max_value=1.0), seed=st.integers(0, 2**31 - 1))
def test_rate_expectation_matches_x(p, seed):
    n = 20000
    out = rate(torch.full((n,), p, dtype=torch.float64), 1, generator=torch.Generator().manual_seed(seed))
    mean = out.mean().item()
    tol = 5 * (p * (1 - p) / n) ** 0.5 + 3 / n  # 5 sigma, plus a floor for p near 0 or 1
    assert abs(mean - p) <= tol


@pytest.mark.parametrize(
    "bad", [torch.tensor([-0.1, 0.5]), torch.tensor([0.5, 1.01]), torch.tensor([float("nan")])]
)
def test_rate_rejects_values_outside_unit_interval(bad):
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        rate(bad, 3)


@pytest.mark.parametrize("T", [0, -1, 2.0, True, "5", None])
def test_bad_T(T):
    for name in ENCODINGS:
        with pytest.raises(ConfigError, match="'T'"):
            encode(name, torch.rand(2), T)


def test_integer_input_rejected():
    with pytest.raises(ConfigError):
        current(torch.ones(2, dtype=torch.uint8), 2)
    with pytest.raises(ConfigError):
        rate(torch.ones(2, dtype=torch.uint8), 2)


def test_encode_dispatch():
    x = torch.rand(3, 4)
    assert ENCODINGS == ("current", "rate")
    assert torch.equal(encode("current", x, 2, scale=2.0, bias=1.0), current(x, 2, 2.0, 1.0))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(encode("rate", x, 5, generator=g1), rate(x, 5, generator=g2))
    with pytest.raises(ConfigError, match="latency") as info:
        encode("latency", x, 2)
    assert "current" in str(info.value) and "rate" in str(info.value)
    with pytest.raises(ConfigError, match="scale"):
        encode("rate", x, 2, scale=2.0)

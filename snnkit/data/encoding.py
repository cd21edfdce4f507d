"""Input encodings: turn a static input ``x`` ``[B, ...]`` into a time-first sequence ``[T, B, ...]``.

Both follow the G2GNet SNN (Konstantaropoulos, Smirnakis & Papadopouli, "Neuro-inspired
Ensemble-to-Ensemble Communication Primitives for Sparse and Efficient ANNs", arXiv 2508.14140; the
authors' SNN port, see ``papers/g2gnet.md`` → "Encoding, data, training"):

- ``current``: direct (analogue) input current, ``scale·x + bias`` presented unchanged at every step;
- ``rate``: Poisson-like rate coding, an independent Bernoulli(x) spike at every step.
"""

from __future__ import annotations

from typing import Any

import torch

from snnkit.errors import ConfigError, check_positive_int

__all__ = ["ENCODINGS", "current", "rate", "encode"]

ENCODINGS = ("current", "rate")


def current(x: torch.Tensor, T: int, scale: float = 1.0, bias: float = 0.0) -> torch.Tensor:
    """Constant-current encoding (G2GNet, arXiv 2508.14140): ``out[t] = scale·x + bias`` for every t.

    Returns a ``[T, *x.shape]`` view made with ``expand`` (no copy of the T steps): do not write into it.
    """
    check_positive_int("T", T)
    if not torch.is_floating_point(x):
        raise ConfigError("x.dtype", x.dtype, "a floating-point tensor (scale images to [0, 1] first)")
    drive = x * scale + bias if (scale != 1.0 or bias != 0.0) else x
    return drive.unsqueeze(0).expand(T, *x.shape)


def rate(x: torch.Tensor, T: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rate (Bernoulli) encoding (G2GNet, arXiv 2508.14140): ``out[t] ~ Bernoulli(x)`` independently per step.

    ``x`` must be a floating-point tensor with values in [0, 1] (a probability per element); the result
    is float 0/1 of shape ``[T, *x.shape]`` and dtype ``x.dtype``. Deterministic given ``generator``.
    """
    check_positive_int("T", T)
    if not torch.is_floating_point(x):
        raise ConfigError("x.dtype", x.dtype, "a floating-point tensor of probabilities in [0, 1]")
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        if not (lo >= 0.0 and hi <= 1.0):  # also rejects NaN
            raise ConfigError("x (range)", (lo, hi), "values in [0, 1] for rate encoding")
    device = generator.device if generator is not None else x.device
    u = torch.rand((T, *x.shape), generator=generator, device=device, dtype=x.dtype).to(x.device)
    return (u < x.unsqueeze(0)).to(x.dtype)


def encode(name: str, x: torch.Tensor, T: int, **kwargs: Any) -> torch.Tensor:
    """Dispatch to :func:`current` or :func:`rate` by name; ``kwargs`` go to the encoder."""
    if name == "current":
        allowed = {"scale", "bias"}
        fn = current
    elif name == "rate":
        allowed = {"generator"}
        fn = rate
    else:
        raise ConfigError("encoding", name, f"one of {ENCODINGS}")
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ConfigError(
            f"encoding option {unknown[0]!r}", kwargs[unknown[0]], f"options of {name!r}: {sorted(allowed)}"
        )
    return fn(x, T, **kwargs)

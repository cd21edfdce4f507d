"""Seeded group-to-group connectivity masks (G2GNet).

Konstantaropoulos, Smirnakis & Papadopouli, "Neuro-inspired Ensemble-to-Ensemble Communication
Primitives for Sparse and Efficient ANNs", arXiv 2508.14140.

The neurons on each side of a layer of shape ``(out, in)`` are split into ``G`` groups (ensembles).
Connection ``(o, i)`` is kept with probability ``p_intra`` when ``o`` and ``i`` are in the same group and
``p_inter`` otherwise, so the expected density is ``p_intra/G + (1 - 1/G)·p_inter`` (the paper's
``1/G + (1 - 1/G)·p_inter`` with ``p_intra = 1``; ``p_inter = 0.15``, ``G = 8`` → 25.6 %). The kinds
differ only in how neurons are assigned to groups:

* ``index``: contiguous, ``group = idx // (n / G)``, on every layer.
* ``random``: a seeded random permutation of the contiguous labels, drawn independently for the inputs
  and the outputs of every layer.
* ``mixer``: contiguous on even layers (fc1, fc3), interleaved ``group = idx mod G`` on both sides of odd
  layers (fc2) — a channel shuffle, so each fc2 ensemble receives from every fc1 ensemble.

All randomness comes from a ``torch.Generator`` seeded by the caller (the original set no seed, so its
masks differed on every run).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import torch

from snnkit.errors import ConfigError, check_positive_int

__all__ = [
    "MASK_KINDS",
    "GroupMask",
    "build_group_masks",
    "build_masks",
    "density",
    "expected_density",
    "group_labels",
    "group_mask",
    "mask_parameter_count",
]

MASK_KINDS = ("index", "random", "mixer")
_SCHEMES = ("contiguous", "interleaved", "permuted")


def _check_probability(key: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ConfigError(key, value, "a probability in [0, 1]", where=where)
    return float(value)


def group_labels(n: int, groups: int, scheme: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Group label (``int64``, ``[n]``) of each of ``n`` neurons split into ``groups`` equal groups.

    ``scheme``: ``"contiguous"`` (``idx // (n / groups)``), ``"interleaved"`` (``idx mod groups``) or
    ``"permuted"`` (the contiguous labels in an order drawn from ``generator``, which is then required).
    """
    where = "group_labels"
    n = check_positive_int("n", n, where=where)
    groups = check_positive_int("groups", groups, where=where)
    if n % groups:
        raise ConfigError("groups", groups, f"a divisor of the width n={n}", where=where)
    idx = torch.arange(n)
    if scheme == "contiguous":
        return idx // (n // groups)
    if scheme == "interleaved":
        return idx % groups
    if scheme == "permuted":
        if generator is None:
            raise ConfigError("generator", None, "a torch.Generator for the permuted scheme", where=where)
        return (idx // (n // groups))[torch.randperm(n, generator=generator)]
    raise ConfigError("scheme", scheme, f"one of {list(_SCHEMES)}", where=where)


def group_mask(out_labels: torch.Tensor, in_labels: torch.Tensor, p_intra: float, p_inter: float,
               generator: torch.Generator) -> torch.Tensor:
    """Bool mask ``[out, in]``: ``(o, i)`` kept with probability ``p_intra`` when ``out_labels[o] ==
    in_labels[i]``, else ``p_inter``. Probability 1 keeps every such connection and 0 none (exactly)."""
    same = out_labels[:, None] == in_labels[None, :]
    prob = torch.where(same, torch.tensor(float(p_intra)), torch.tensor(float(p_inter)))
    draw = torch.rand(same.shape, generator=generator)  # in [0, 1): draw < 1 always, draw < 0 never
    return draw < prob


def _schemes(kind: str, layer_index: int) -> tuple[str, str]:
    """(output scheme, input scheme) of hidden layer ``layer_index`` (0-based) for a mask kind."""
    if kind == "index":
        return "contiguous", "contiguous"
    if kind == "random":
        return "permuted", "permuted"
    return ("interleaved", "interleaved") if layer_index % 2 else ("contiguous", "contiguous")


class GroupMask(NamedTuple):
    """One layer's mask ``[out, in]`` with the group label of every output and input neuron."""

    mask: torch.Tensor
    out_groups: torch.Tensor
    in_groups: torch.Tensor


def build_masks(kind: str, sizes: Sequence[int], *, groups: int = 8, p_intra: float = 1.0,
                p_inter: float = 0.0, seed: int = 0) -> list[torch.Tensor]:
    """The masks of every sparse (hidden) layer of a G2GNet, a pure function of the arguments.
    (:func:`build_group_masks` with the same arguments gives them with their group labels.)

    Args:
        kind: ``"index"``, ``"random"`` or ``"mixer"`` (see the module docstring).
        sizes: the widths ``[in_features, hidden_1, ..., hidden_n]``; mask ``l`` has shape
            ``(sizes[l + 1], sizes[l])`` (``nn.Linear``'s ``(out, in)``).
        groups: number of groups G per layer side; must divide every width.
        p_intra, p_inter: connection probabilities within / between groups, in [0, 1].
        seed: seeds the ``torch.Generator`` all draws come from (the global RNG is untouched).

    Returns bool CPU tensors, one per hidden layer.
    """
    return [g.mask for g in build_group_masks(kind, sizes, groups=groups, p_intra=p_intra, p_inter=p_inter,
                                              seed=seed)]


def build_group_masks(kind: str, sizes: Sequence[int], *, groups: int = 8, p_intra: float = 1.0,
                      p_inter: float = 0.0, seed: int = 0) -> list[GroupMask]:
    """:func:`build_masks`' masks, each with the group labels it was drawn from (for
    ``MaskedLinear(..., groups=(out_groups, in_groups))`` and the group-to-group connectivity figure)."""
    where = "build_masks"
    if kind not in MASK_KINDS:
        raise ConfigError("kind", kind, f"one of {list(MASK_KINDS)}", where=where)
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ConfigError("sizes", sizes, "at least two widths [in_features, hidden_1, ...]", where=where)
    sizes = [check_positive_int("sizes", n, where=where) for n in sizes]
    groups = check_positive_int("groups", groups, where=where)
    for n in sizes:
        if n % groups:
            raise ConfigError("groups", groups, f"a divisor of every layer width {sizes} ({n} is not a "
                              f"multiple of it)", where=where)
    if kind == "mixer" and len(sizes) > 2 and sizes[1] // groups < groups:
        raise ConfigError("groups", groups, f"at most √{sizes[1]} for 'mixer' (width / groups = {sizes[1] // groups} "
                          "< groups: some fc2 groups would not receive from every fc1 group)", where=where)
    p_intra = _check_probability("p_intra", p_intra, where)
    p_inter = _check_probability("p_inter", p_inter, where)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ConfigError("seed", seed, "an integer", where=where)
    gen = torch.Generator().manual_seed(int(seed))
    masks = []
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        out_scheme, in_scheme = _schemes(kind, layer)
        in_labels = group_labels(n_in, groups, in_scheme, gen)
        out_labels = group_labels(n_out, groups, out_scheme, gen)
        masks.append(GroupMask(group_mask(out_labels, in_labels, p_intra, p_inter, gen), out_labels, in_labels))
    return masks


def expected_density(groups: int, p_intra: float = 1.0, p_inter: float = 0.0) -> float:
    """Expected fraction of kept connections: ``p_intra/G + (1 - 1/G)·p_inter`` (G dividing both widths)."""
    groups = check_positive_int("groups", groups, where="expected_density")
    p_intra = _check_probability("p_intra", p_intra, "expected_density")
    p_inter = _check_probability("p_inter", p_inter, "expected_density")
    return p_intra / groups + (1.0 - 1.0 / groups) * p_inter


def density(masks: torch.Tensor | Iterable[torch.Tensor]) -> float:
    """Fraction of kept connections in a mask, or over several masks together (weighted by size)."""
    masks = [masks] if isinstance(masks, torch.Tensor) else list(masks)
    total = sum(m.numel() for m in masks)
    return sum(int(torch.count_nonzero(m)) for m in masks) / total if total else 0.0


def mask_parameter_count(masks: torch.Tensor | Iterable[torch.Tensor], *, bias: bool = True) -> int:
    """Trainable weights the masks leave (their non-zeros), plus one bias per output row if ``bias``."""
    masks = [masks] if isinstance(masks, torch.Tensor) else list(masks)
    return sum(int(torch.count_nonzero(m)) + (m.shape[0] if bias else 0) for m in masks)

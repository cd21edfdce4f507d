"""The masked linear layer of G2GNet's sparse hidden layers.

Konstantaropoulos, Smirnakis & Papadopouli, arXiv 2508.14140: the forward pass uses ``W ⊙ M``; weights
start Kaiming-uniform (a=√5, as ``nn.Linear``), then each row's active weights are scaled by
``√(fan_in / active_fan_in)`` so that a sparse row has the variance of a dense one, and the bias is drawn
from ``U(±1/√(mean active fan-in))``.

Masked-out weights are stored as exact zeros and stay zero under any optimiser whose update of a weight
with zero value, zero gradient and zero state is zero — Adam, AdamW and SGD (with momentum and weight
decay) all are: the gradient of ``W ⊙ M`` is exactly zero off the mask, so ``grad + λ·w`` stays zero and
so do the moments. (The original let weight decay and Adam's moments act on masked-out weights, so
regrown connections carried stale values.) Changing the mask (:meth:`MaskedLinear.set_mask`, used by
dynamic sparse training) zeros the newly masked weights; :func:`clear_masked_state` zeros the optimiser
state of masked-out entries, which would otherwise move them again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from snnkit.errors import ConfigError, check_positive_int

__all__ = ["MaskedLinear", "active_parameter_count", "clear_masked_state", "masked_layer_factory"]


def _as_mask(mask: Any, out_features: int, in_features: int, where: str) -> torch.Tensor:
    mask = torch.as_tensor(mask)
    if tuple(mask.shape) != (out_features, in_features):
        raise ConfigError("mask", f"a tensor of shape {tuple(mask.shape)}",
                          f"shape (out_features, in_features) = ({out_features}, {in_features})", where=where)
    if mask.dtype != torch.bool:
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ConfigError("mask", "a tensor with values other than 0 and 1", "a bool or 0/1 tensor",
                              where=where)
        mask = mask != 0
    return mask


class MaskedLinear(nn.Linear):
    """``nn.Linear`` whose weight is multiplied by a fixed-shape binary ``mask`` (a buffer, ``[out, in]``).

    ``groups``: optional ``(out_groups, in_groups)`` group label of every output and input neuron (kept
    as the non-persistent buffers ``out_groups``/``in_groups``, e.g. for the group-to-group connectivity
    figure); None when the mask has no group structure.

    The mask travels with the module (``.to``, ``state_dict``); masked-out weights are exact zeros after
    construction, :meth:`set_mask`, :meth:`reset_parameters` and ``load_state_dict``.
    """

    def __init__(self, in_features: int, out_features: int, mask: Any, bias: bool = True,
                 device: Any = None, dtype: Any = None, groups: tuple[Any, Any] | None = None) -> None:
        in_features = check_positive_int("in_features", in_features, where="MaskedLinear")
        out_features = check_positive_int("out_features", out_features, where="MaskedLinear")
        mask = _as_mask(mask, out_features, in_features, "MaskedLinear")
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.register_buffer("mask", mask.to(device=self.weight.device, copy=True))  # its own copy: set_mask edits it
        self.reset_parameters()
        self.register_load_state_dict_post_hook(lambda module, _keys: module.apply_mask_())
        out_groups = in_groups = None
        if groups is not None:
            out_groups, in_groups = (torch.as_tensor(g, dtype=torch.int64) for g in groups)
            if out_groups.shape != (out_features,) or in_groups.shape != (in_features,):
                raise ConfigError("groups", f"labels of shapes {tuple(out_groups.shape)}, {tuple(in_groups.shape)}",
                                  f"(out_groups [{out_features}], in_groups [{in_features}])", where="MaskedLinear")
        self.register_buffer("out_groups", out_groups, persistent=False)
        self.register_buffer("in_groups", in_groups, persistent=False)

    def reset_parameters(self) -> None:
        """The spec's fan-in-rescaled init (see the module docstring); ``nn.Linear``'s before the mask exists."""
        super().reset_parameters()
        mask = getattr(self, "mask", None)
        if mask is None:  # called from nn.Linear.__init__, before the mask is registered
            return
        with torch.no_grad():
            active = mask.sum(1, dtype=self.weight.dtype)  # active fan-in per row
            scale = torch.where(active > 0, (self.in_features / active.clamp(min=1)).sqrt(),
                                torch.ones_like(active))
            self.weight.mul_(scale[:, None]).mul_(mask)
            if self.bias is not None:
                mean_active = float(active.mean())
                bound = 1.0 / math.sqrt(mean_active if mean_active > 0 else self.in_features)
                nn.init.uniform_(self.bias, -bound, bound)

    @torch.no_grad()
    def apply_mask_(self) -> None:
        """Set the stored masked-out weights to exact zeros."""
        self.weight.mul_(self.mask)

    @torch.no_grad()
    def set_mask(self, mask: Any) -> None:
        """Replace the mask (same shape) and zero the weights it masks out."""
        self.mask.copy_(_as_mask(mask, self.out_features, self.in_features, "MaskedLinear.set_mask"))
        self.apply_mask_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, density={float(self.mask.float().mean()):.4f}"


@torch.no_grad()
def clear_masked_state(optimizer: torch.optim.Optimizer, layers: Iterable[MaskedLinear]) -> None:
    """Zero every per-element optimiser state tensor (Adam's moments, SGD's momentum buffer, ...) of each
    layer's weight where its mask is off, so that a pruned weight is not moved by stale momentum."""
    for layer in layers:
        for value in optimizer.state.get(layer.weight, {}).values():
            if isinstance(value, torch.Tensor) and value.shape == layer.mask.shape:
                value.mul_(layer.mask)


def masked_layer_factory(masks: Sequence[Any]):
    """A ``G2GNet(layer_factory=...)`` that builds hidden layer ``i`` as ``MaskedLinear`` with ``masks[i]``:
    a mask (e.g. from :func:`snnkit.sparse.masks.build_masks`) or a ``(mask, out_groups, in_groups)``
    triple (:func:`snnkit.sparse.masks.build_group_masks`), whose labels the layer keeps."""
    masks = list(masks)

    def factory(index: int, in_features: int, out_features: int) -> MaskedLinear:
        if not 0 <= index < len(masks):
            raise ConfigError("layer_index", index, f"0 .. {len(masks) - 1} (one mask per hidden layer)",
                              where="masked_layer_factory")
        item = masks[index]
        if isinstance(item, tuple):
            mask, out_groups, in_groups = item
            return MaskedLinear(in_features, out_features, mask, groups=(out_groups, in_groups))
        return MaskedLinear(in_features, out_features, item)

    return factory


def active_parameter_count(model: nn.Module) -> int:
    """Trainable parameters a model really has: a ``MaskedLinear`` weight counts its mask's non-zeros,
    every other parameter its size."""
    masked = {id(m.weight): int(torch.count_nonzero(m.mask)) for m in model.modules()
              if isinstance(m, MaskedLinear)}
    return sum(masked.get(id(p), p.numel()) for p in model.parameters() if p.requires_grad)

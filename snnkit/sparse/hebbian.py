"""Hebbian co-activity of a layer's pre- and post-synaptic neurons (G2GNet's DST score).

Konstantaropoulos, Smirnakis & Papadopouli, arXiv 2508.14140: the Hebbian score of connection
``(o, i)`` is the cosine similarity between post neuron ``o``'s and pre neuron ``i``'s activity vectors
over the (time × batch) samples: each neuron's vector is normalised to unit L2 norm and
``CH = postᵀ · pre`` (shape ``[out, in]``).

Over a window of several batches the score is the cosine over *all* samples of the window, i.e. the
batches' samples concatenated. It is computed from three sums that add up over batches::

    cross[o, i] = Σ_s post[s, o] · pre[s, i]     post_sq[o] = Σ_s post[s, o]²     pre_sq[i] = Σ_s pre[s, i]²
    CH[o, i]    = cross[o, i] / (√post_sq[o] · √pre_sq[i])      (0 where either norm is 0)

A neuron that never fired in the window has a zero vector and a zero score with every partner.
:class:`CoactivityWindow` keeps the sums of the last ``window`` batches on the device the activity is on
(nothing is copied to the CPU per step); the default ``window=1`` is the original's "latest batch only".
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from snnkit.errors import ConfigError, check_positive_int

__all__ = ["CoactivityWindow", "coactivity", "coactivity_sums", "cosine_from_sums"]


@torch.no_grad()
def coactivity_sums(pre: Tensor, post: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(cross [out, in], post_sq [out], pre_sq [in])`` of one batch (see the module docstring).

    ``pre`` ``[..., in]`` and ``post`` ``[..., out]`` are sample rows over their leading dims, in float32.
    A ``pre`` with fewer leading dims than ``post`` (a constant input current ``[B, in]`` computed once
    and broadcast over ``T``) counts as repeated over ``post``'s extra leading dims; it is not copied:
    ``cross = (Σ_T post)ᵀ · pre`` and ``pre_sq = T · Σ_B pre²``.
    """
    pre, post = pre.detach().float(), post.detach().float()
    extra = post.dim() - pre.dim()
    if extra < 0 or post.shape[extra:-1] != pre.shape[:-1]:
        raise ValueError(f"pre activity {tuple(pre.shape)} does not match post activity {tuple(post.shape)}")
    post_sq = post.reshape(-1, post.shape[-1]).square().sum(0)
    repeats = 1
    if extra:
        repeats = post.shape[:extra].numel()
        post = post.sum(tuple(range(extra)))
    pre, post = pre.reshape(-1, pre.shape[-1]), post.reshape(-1, post.shape[-1])
    return post.T @ pre, post_sq, pre.square().sum(0) * repeats


@torch.no_grad()
def cosine_from_sums(cross: Tensor, post_sq: Tensor, pre_sq: Tensor) -> Tensor:
    """The cosine matrix ``[out, in]`` from the sums; zero where a neuron's vector is zero."""
    post_norm, pre_norm = post_sq.sqrt(), pre_sq.sqrt()
    inv_post = torch.where(post_norm > 0, 1.0 / post_norm.clamp(min=1e-30), torch.zeros_like(post_norm))
    inv_pre = torch.where(pre_norm > 0, 1.0 / pre_norm.clamp(min=1e-30), torch.zeros_like(pre_norm))
    return cross * inv_post[:, None] * inv_pre[None, :]


def coactivity(pre: Tensor, post: Tensor) -> Tensor:
    """Cosine co-activity ``[out, in]`` of one batch's ``pre`` ``[..., in]`` and ``post`` ``[..., out]``."""
    return cosine_from_sums(*coactivity_sums(pre, post))


class CoactivityWindow:
    """Sums of the last ``window`` batches (a ring buffer on the activity's device) and their cosine.

    ``update(pre, post)`` adds a batch (dropping the oldest once ``window`` are held); :meth:`score` is
    the cosine over every sample of the held batches, or None before the first update.

    ``running=True``: one running sum instead of the ring (memory of one batch's sums, whatever the
    window), for a caller that calls :meth:`reset` before each window starts and never adds more than
    ``window`` batches to it — dynamic sparse training with ``window < every`` does.
    """

    def __init__(self, window: int = 1, *, running: bool = False) -> None:
        self.window = check_positive_int("window", window, where="CoactivityWindow")
        self.running = bool(running)
        self.reset()

    def reset(self) -> None:
        self._cross: Tensor | None = None  # [window, out, in]
        self._post_sq: Tensor | None = None  # [window, out]
        self._pre_sq: Tensor | None = None  # [window, in]
        self._next = 0
        self._filled = 0

    @property
    def batches(self) -> int:
        """How many batches the sums currently hold (≤ window)."""
        return self._filled

    @torch.no_grad()
    def update(self, pre: Tensor, post: Tensor) -> None:
        cross, post_sq, pre_sq = coactivity_sums(pre, post)
        slots = 1 if self.running else self.window
        if self._cross is None or self._cross.shape[1:] != cross.shape:
            self._cross = cross.new_zeros((slots, *cross.shape))
            self._post_sq = post_sq.new_zeros((slots, *post_sq.shape))
            self._pre_sq = pre_sq.new_zeros((slots, *pre_sq.shape))
            self._next = self._filled = 0
        elif self._cross.device != cross.device:  # e.g. restored from a CPU checkpoint
            self._cross, self._post_sq, self._pre_sq = (
                t.to(cross.device) for t in (self._cross, self._post_sq, self._pre_sq)
            )
        if self.running:
            if self._filled >= self.window:
                raise RuntimeError(f"CoactivityWindow(running=True): more than window={self.window} batches "
                                   "since the last reset()")
            self._cross[0].add_(cross)
            self._post_sq[0].add_(post_sq)
            self._pre_sq[0].add_(pre_sq)
            self._filled += 1
            return
        k = self._next
        self._cross[k].copy_(cross)
        self._post_sq[k].copy_(post_sq)
        self._pre_sq[k].copy_(pre_sq)
        self._next = (k + 1) % self.window
        self._filled = min(self._filled + 1, self.window)

    def sums(self) -> tuple[Tensor, Tensor, Tensor] | None:
        """``(cross, post_sq, pre_sq)`` summed over the held batches, or None when empty."""
        if self._cross is None or self._filled == 0:
            return None
        return self._cross.sum(0), self._post_sq.sum(0), self._pre_sq.sum(0)

    def score(self) -> Tensor | None:
        sums = self.sums()
        return None if sums is None else cosine_from_sums(*sums)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"next": torch.tensor(self._next), "filled": torch.tensor(self._filled)}
        if self._cross is not None:
            state.update(cross=self._cross, post_sq=self._post_sq, pre_sq=self._pre_sq)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.reset()
        if "cross" in state:
            if state["cross"].shape[0] != (1 if self.running else self.window):
                raise ConfigError("window", self.window,
                                  f"{state['cross'].shape[0]}, the window of the saved co-activity state",
                                  where="CoactivityWindow.load_state_dict")
            self._cross = state["cross"].clone()
            self._post_sq = state["post_sq"].clone()
            self._pre_sq = state["pre_sq"].clone()
        self._next, self._filled = int(state["next"]), int(state["filled"])

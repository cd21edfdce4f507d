"""Dynamic sparse training (DST) of G2GNet's masked layers, as a :class:`~snnkit.train.Callback`.

Konstantaropoulos, Smirnakis & Papadopouli, arXiv 2508.14140: every ``every`` optimiser steps (1000 in
the paper), for each sparse layer, prune ``k = ⌊fraction · active⌋`` active connections (fraction 0.1),
then grow ``k`` inactive ones, so the density stays constant. Prune rules: ``set`` (smallest ``|w|``
among the active, Mocanu et al. 2018), ``random``, ``hebb`` (lowest Hebbian score among the active);
grow rules: ``hebb`` (highest Hebbian score among the inactive), ``random``. Defaults: prune ``set``,
grow ``hebb``.

Choices made here (the spec leaves them open):

* Grown connections are drawn from those inactive *before* the event, so a connection pruned in an
  event is not regrown in the same event; ``k`` is capped by that number.
* The Hebbian score (:mod:`snnkit.sparse.hebbian`) pairs a layer's *input* (pre: the encoded input for
  fc1, the previous LIF's spikes otherwise) with the *spikes of the LIF that follows it* (post) — the
  neurons the connection drives, as in the original, not the layer's pre-activation current. The
  callback reads both from ``trainer.activity`` by watching the layer and its following neuron module
  (for :class:`~snnkit.models.g2g.G2GNet` found as ``layers.i`` → ``neurons.i``; other models pass
  ``post={layer_name: neuron_name}``). The statistics are updated only on the ``window`` steps before an
  event (the only ones the score uses), on the training device, and summed over ranks at the event
  under ``torchrun`` so that every rank computes the same masks. With ``window < every`` they are one
  running sum per layer, reset when an event's window starts (memory and checkpoint size of one
  batch's sums); otherwise a ring of ``window`` batches.
* ``regrow="zero"`` (default): a regrown weight starts at zero. ``regrow="keep"``: it gets back the
  value it had when it was pruned (zero if it was never active) — the original's behaviour, where
  masked-out weights kept (decayed) values, made explicit.
* Random choices come from a CPU ``torch.Generator`` the callback owns (seeded by ``seed``, the same on
  every rank); its state, the statistics, the dormant weights and the event log are in
  :meth:`state_dict`, the masks in the model's, so a resumed run continues bit for bit.

After each event the optimiser state of the masked-out entries is zeroed
(:func:`~snnkit.sparse.layers.clear_masked_state`), so pruned weights stay exact zeros.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from snnkit.errors import ConfigError, check_positive_int
from snnkit.sparse.hebbian import CoactivityWindow, cosine_from_sums
from snnkit.sparse.layers import MaskedLinear, clear_masked_state
from snnkit.train.activity import Output
from snnkit.train.loop import Callback

__all__ = ["GROW_RULES", "PRUNE_RULES", "REGROW_MODES", "DynamicSparseTraining", "prune_and_grow", "rewire_count"]

log = logging.getLogger(__name__)

PRUNE_RULES = ("set", "random", "hebb")
GROW_RULES = ("hebb", "random")
REGROW_MODES = ("zero", "keep")
_WHERE = "DynamicSparseTraining"


def rewire_count(active: int, inactive: int, fraction: float) -> int:
    """``k = ⌊fraction · active⌋`` (with a 1e-9 guard against float round-off), at most ``inactive``."""
    return max(0, min(int(math.floor(fraction * active + 1e-9)), inactive))


@torch.no_grad()
def prune_and_grow(mask: Tensor, k: int, prune_score: Tensor, grow_score: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Turn off the ``k`` active entries of ``mask`` with the lowest ``prune_score`` and turn on the ``k``
    entries inactive before the call with the highest ``grow_score``.

    Returns ``(new_mask, pruned, grown)``, the last two as flat indices into ``mask``.
    """
    flat = mask.reshape(-1)
    active = flat.nonzero().squeeze(1)
    inactive = (~flat).nonzero().squeeze(1)
    pruned = active[torch.topk(prune_score.reshape(-1)[active], k, largest=False).indices]
    grown = inactive[torch.topk(grow_score.reshape(-1)[inactive], k, largest=True).indices]
    new = flat.clone()
    new[pruned] = False
    new[grown] = True
    return new.reshape(mask.shape), pruned, grown


def _all_reduce_sum(tensors: Iterable[Tensor]) -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        for t in tensors:
            dist.all_reduce(t)


class DynamicSparseTraining(Callback):
    """Prune and regrow the connections of every :class:`MaskedLinear` of the model (see the module
    docstring).

    Args:
        every: optimiser steps between events (an event after step ``every``, ``2·every``, ...).
        fraction: share of a layer's active connections rewired per event, in (0, 1].
        prune: ``"set"``, ``"random"`` or ``"hebb"``.
        grow: ``"hebb"`` or ``"random"``.
        regrow: ``"zero"`` or ``"keep"`` (the value a regrown weight starts with).
        window: batches the Hebbian score is computed over (1 = the latest batch, as the original).
        seed: seeds the callback's generator (random rules).
        post: ``{masked layer name: module name}`` whose output is the layer's post-synaptic spikes;
            needed only for Hebbian rules on models other than G2GNet.
    """

    def __init__(self, every: int = 1000, fraction: float = 0.1, prune: str = "set", grow: str = "hebb",
                 regrow: str = "zero", window: int = 1, seed: int = 0,
                 post: Mapping[str, str] | None = None) -> None:
        self.every = check_positive_int("every", every, where=_WHERE)
        self.window = check_positive_int("window", window, where=_WHERE)
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ConfigError("fraction", fraction, "a number in (0, 1] (0.1 in the paper)", where=_WHERE)
        for key, value, allowed in (("prune", prune, PRUNE_RULES), ("grow", grow, GROW_RULES),
                                    ("regrow", regrow, REGROW_MODES)):
            if value not in allowed:
                raise ConfigError(key, value, f"one of {list(allowed)}", where=_WHERE)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError("seed", seed, "an integer", where=_WHERE)
        self.fraction = float(fraction)
        self.prune, self.grow, self.regrow, self.seed = prune, grow, regrow, seed
        self.post = dict(post) if post is not None else None
        self.generator = torch.Generator().manual_seed(seed)
        self.layers: dict[str, MaskedLinear] = {}
        self.post_of: dict[str, str] = {}
        self.stats: dict[str, CoactivityWindow] = {}
        self.dormant: dict[str, Tensor] = {}
        self.events: list[dict[str, Any]] = []  # one record per layer and event

    @property
    def uses_hebb(self) -> bool:
        return "hebb" in (self.prune, self.grow)

    # -------------------------------------------------------------------------------------- set-up
    def attach(self, model: nn.Module) -> list[str]:
        """Find the masked layers (and their post-synaptic modules) of ``model``; returns the names to
        watch. :meth:`watch` calls it; call it yourself to use :meth:`rewire` without a Trainer."""
        modules = dict(model.named_modules())
        self.layers = {n: m for n, m in modules.items() if isinstance(m, MaskedLinear)}
        if not self.layers:
            raise ConfigError("model", type(model).__name__,
                              "a model with MaskedLinear layers (dynamic sparse training needs a sparse "
                              "model, e.g. index, random or mixer; the dense one has none)", where=_WHERE)
        if not self.uses_hebb:
            self.post_of = {}
            return []
        if self.post is not None:
            post_of = dict(self.post)
        else:
            post_of = {}
            for name in self.layers:
                head, _, index = name.rpartition(".")
                if head.rpartition(".")[2] == "layers" and index.isdigit():
                    post_of[name] = f"{head[:-len('layers')]}neurons.{index}"
        for name in self.layers:
            if post_of.get(name) not in modules:
                raise ConfigError(
                    "post", post_of.get(name),
                    f"the name of the module whose output is the spikes driven by masked layer {name!r} "
                    "(post={layer: module}; found automatically only for G2GNet's layers.i → neurons.i)",
                    where=_WHERE)
        self.post_of = {n: post_of[n] for n in self.layers}
        for name in self.layers:
            self.stats.setdefault(name, self._new_window())
        return [*self.layers, *self.post_of.values()]

    def _new_window(self) -> CoactivityWindow:
        # window < every: each event's window is the `window` steps right before it, so one running sum,
        # reset when a window starts, holds it (memory of one batch's sums, not `window` of them)
        return CoactivityWindow(self.window, running=self.window < self.every)

    def watch(self, model: nn.Module) -> list[str | Output]:
        self.attach(model)  # the masked layers' input (pre-synaptic), the spiking modules' output (post-synaptic)
        return [*self.layers, *(Output(post) for post in self.post_of.values())]

    # -------------------------------------------------------------------------------------- hooks
    def _records_step(self, step: int) -> bool:
        """Whether step ``step``'s activity can enter the score of an event (the last ``window`` steps
        up to and including an event step)."""
        return self.window >= self.every or (-step) % self.every < self.window

    def on_step_end(self, trainer: Any) -> None:
        step = trainer.global_step
        if self.uses_hebb and self._records_step(step):
            starts = self.window < self.every and (-step) % self.every == self.window - 1
            for name in self.layers:
                if starts:
                    self.stats[name].reset()
                pre, post = trainer.activity.get(name), trainer.activity.get(self.post_of[name])
                if pre is not None and post is not None:
                    self.stats[name].update(pre.input, post.output)
        if step % self.every == 0:
            self.rewire(trainer.optimizer, step)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        logs["dst_events"] = len({e["step"] for e in self.events})
        logs["dst_density"] = self.density()

    def density(self) -> float:
        """Active share of all masked weights."""
        active = sum(int(m.mask.sum()) for m in self.layers.values())
        return active / max(1, sum(m.mask.numel() for m in self.layers.values()))

    # -------------------------------------------------------------------------------------- the event
    def _hebb_score(self, name: str) -> Tensor:
        sums = self.stats[name].sums() if name in self.stats else None
        if sums is None:
            raise ConfigError("post", self.post_of.get(name),
                              f"a module that runs in the training forward (no activity was recorded for "
                              f"masked layer {name!r}, so its Hebbian score is undefined)", where=_WHERE)
        sums = tuple(s.to(self.layers[name].mask.device, copy=True) for s in sums)
        _all_reduce_sum(sums)
        return cosine_from_sums(*sums)

    def _random_score(self, layer: MaskedLinear) -> Tensor:
        return torch.rand(layer.mask.shape, generator=self.generator).to(layer.mask.device)

    @torch.no_grad()
    def rewire(self, optimizer: torch.optim.Optimizer | None = None, step: int | None = None) -> None:
        """One DST event on every masked layer, then :func:`clear_masked_state` on ``optimizer``."""
        for name, layer in self.layers.items():
            mask = layer.mask
            active = int(mask.sum())
            k = rewire_count(active, mask.numel() - active, self.fraction)
            hebb = self._hebb_score(name) if self.uses_hebb else None
            if self.prune == "set":
                prune_score = layer.weight.detach().abs()
            elif self.prune == "random":
                prune_score = self._random_score(layer)
            else:
                prune_score = hebb
            grow_score = hebb if self.grow == "hebb" else self._random_score(layer)
            new, pruned, grown = prune_and_grow(mask, k, prune_score, grow_score)
            weight = layer.weight.data.view(-1)
            if self.regrow == "keep":
                stored = self.dormant.get(name)
                if stored is None or stored.device != layer.weight.device:
                    stored = (torch.zeros_like(layer.weight.data) if stored is None
                              else stored.to(layer.weight.device))
                    self.dormant[name] = stored
                dormant = stored.view(-1)
                dormant[pruned] = weight[pruned]
            layer.set_mask(new)
            if self.regrow == "keep":
                weight[grown] = dormant[grown]
            self.events.append({"step": -1 if step is None else int(step), "layer": name, "pruned": len(pruned),
                                "grown": len(grown), "active": int(new.sum()), "size": new.numel()})
            log.debug("DST step %s, %s: pruned %d, grown %d", step, name, len(pruned), len(grown))
        if optimizer is not None:
            clear_masked_state(optimizer, self.layers.values())

    # -------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "settings": {"every": self.every, "fraction": self.fraction, "prune": self.prune,
                         "grow": self.grow, "regrow": self.regrow, "window": self.window, "seed": self.seed},
            "generator": self.generator.get_state(),
            "stats": {n: s.state_dict() for n, s in self.stats.items()},
            "dormant": dict(self.dormant),
            "events": [dict(e) for e in self.events],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.stats = {}
        for name, s in state["stats"].items():
            self.stats[name] = self._new_window()
            self.stats[name].load_state_dict(s)
        self.dormant = {n: t.clone() for n, t in state["dormant"].items()}
        self.events = [dict(e) for e in state["events"]]

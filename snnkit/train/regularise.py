"""Spike regularisers as :class:`~snnkit.train.Callback` objects adding to the loss.

:class:`FiringRateRegulariser` (G2GNet) and :class:`SpikeCountRegulariser` (SPSN, below).

Firing-rate regularisation with a warm-up:

Konstantaropoulos, Smirnakis & Papadopouli, arXiv 2508.14140 (the authors' ``enforce_sparsity`` option):
no penalty during the first ``warmup_epochs``; afterwards, with training progress ``p ∈ [0, 1]`` over the
remaining epochs, the strength ``λ`` goes linearly from 1e-4 to 1e-2 and the target rate from 0.25 to
0.09, and the penalty is

    λ(p) · Σ_layers Σ_neurons (rate − target(p))²,

where ``rate`` is a hidden neuron's mean spike count per step over the batch and the ``T`` steps.

Here ``p`` advances with every optimiser step (``(epoch_float − warmup) / (epochs − warmup)``, clipped to
[0, 1], where ``epoch_float`` is the fractional number of epochs done), so the schedule does not jump at
epoch boundaries and a resumed run continues it exactly (it is a function of the step counter alone).
The spikes are read from ``trainer.activity`` (the watched spiking modules' output in this step, graph
kept), so the penalty's gradient flows through the surrogate like the task loss's. The callback keeps no
state of its own, so other callbacks that watch the same modules (e.g. the Hebbian statistics of
:class:`snnkit.sparse.DynamicSparseTraining`) keep being updated while it is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from snnkit.data.sequences import time_mask
from snnkit.errors import ConfigError, check_nonneg_int, check_positive_number
from snnkit.train.activity import Output
from snnkit.train.loop import Callback
from snnkit.train.monitor import input_lengths

__all__ = ["FiringRateRegulariser", "SpikeCountRegulariser", "spike_count_penalty"]


class FiringRateRegulariser(Callback):
    """Penalise hidden firing rates away from a scheduled target after a warm-up.

    Args:
        modules: names (in ``model.named_modules()``) of the spiking modules whose output spikes are
            regularised, e.g. ``["neurons.0", "neurons.1", "neurons.2"]`` for G2GNet's hidden layers.
        warmup_epochs: epochs without penalty (may be ≥ the training's epochs: then it never acts).
        lam: ``(start, end)`` of the linear λ schedule.
        target: ``(start, end)`` of the linear target-rate schedule.
    """

    def __init__(self, modules: Sequence[str], *, warmup_epochs: int = 10,
                 lam: tuple[float, float] = (1e-4, 1e-2), target: tuple[float, float] = (0.25, 0.09)) -> None:
        where = "FiringRateRegulariser"
        if isinstance(modules, str) or not modules or not all(isinstance(m, str) for m in modules):
            raise ConfigError("modules", modules, "a non-empty list of module names", where=where)
        check_nonneg_int("warmup_epochs", warmup_epochs, where=where)
        for key, pair in (("lam", lam), ("target", target)):
            if len(pair) != 2 or not all(isinstance(v, (int, float)) and v >= 0 for v in pair):
                raise ConfigError(key, pair, "a (start, end) pair of numbers ≥ 0", where=where)
        self.modules = list(modules)
        self.warmup_epochs = warmup_epochs
        self.lam = (float(lam[0]), float(lam[1]))
        self.target = (float(target[0]), float(target[1]))
        self.last: dict[str, float] | None = None  # λ, target, penalty of the latest step (None in warm-up)

    def watch(self, model: nn.Module) -> list[Output]:
        return [Output(name) for name in self.modules]

    def schedule(self, step: int, steps_per_epoch: int, epochs: int) -> tuple[float, float] | None:
        """``(λ, target)`` in force at optimiser step ``step`` (0-based: the step being taken); None in the
        warm-up."""
        done = step / max(1, steps_per_epoch)
        if done < self.warmup_epochs:
            return None
        span = epochs - self.warmup_epochs
        p = min(1.0, max(0.0, (done - self.warmup_epochs) / span)) if span > 0 else 1.0
        return (self.lam[0] + p * (self.lam[1] - self.lam[0]),
                self.target[0] + p * (self.target[1] - self.target[0]))

    def extra_loss(self, trainer: Any, outputs: Any, targets: Any) -> Tensor | None:
        sched = self.schedule(trainer.global_step, trainer.steps_per_epoch, trainer.epochs)
        if sched is None:
            self.last = None
            return None
        lam, target = sched
        penalty: Tensor | None = None
        for name in self.modules:
            spikes = trainer.activity[name].output
            rate = spikes.reshape(-1, spikes.shape[-1]).float().mean(0)  # per neuron, over time × batch
            term = (rate - target).pow(2).sum()
            penalty = term if penalty is None else penalty + term
        assert penalty is not None
        loss = lam * penalty
        self.last = {"lambda": lam, "target": target, "penalty": float(penalty.detach())}
        return loss

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        if self.last is not None:
            logs.update(rate_lambda=self.last["lambda"], rate_target=self.last["target"],
                        rate_penalty=self.last["penalty"])

    @staticmethod
    def hidden_modules(model: nn.Module) -> list[str]:
        """The names of a :class:`~snnkit.models.g2g.G2GNet`'s hidden spiking layers (``neurons.i``)."""
        neurons = getattr(model, "neurons", None)
        if not isinstance(neurons, nn.ModuleList):
            raise ConfigError("model", type(model).__name__, "a model with a 'neurons' ModuleList (G2GNet); "
                              "pass the module names instead", where="FiringRateRegulariser")
        return [f"neurons.{i}" for i in range(len(neurons))]



def spike_count_penalty(spikes: Sequence[Tensor], real_steps: int | Tensor, reg_thr: float) -> Tensor:
    """The SPSN authors' regulariser (Yarga & Wood, arXiv 2306.12666, Eq. 21): ``relu(Σ_l Σ_i r̄_i − reg_thr·N)²``.

    ``spikes``: each hidden layer's spikes ``[T, B, ...]`` (zero on padded steps); ``r̄_i`` is neuron ``i``'s
    spikes averaged over the batch and the ``real_steps`` real (t, b) pairs; ``N`` is the number of hidden
    neurons. The penalty is zero while the summed mean rate stays below ``reg_thr`` per neuron.
    """
    total = sum(s.sum() for s in spikes) / real_steps
    n = sum(s[0, 0].numel() for s in spikes)
    return F.relu(total - reg_thr * n) ** 2


class SpikeCountRegulariser(Callback):
    """Adds :func:`spike_count_penalty` of the hidden layers ``modules`` to every training step's loss.

    The spikes come from ``trainer.activity`` (graph kept). When the model's input is ``(x, lengths)`` (its
    root module is watched to see it), the padded steps — after each sequence, or before it when
    ``model.pad == "start"`` — count neither as spikes nor as steps; otherwise every step of ``[T, B]`` counts.
    """

    def __init__(self, modules: Sequence[str], reg_thr: float) -> None:
        where = "SpikeCountRegulariser"
        if isinstance(modules, str) or not modules or not all(isinstance(m, str) and m for m in modules):
            raise ConfigError("modules", modules, "a non-empty list of module names", where=where)
        self.modules = list(modules)
        self.reg_thr = check_positive_number("reg_thr", reg_thr, where=where)
        self.last: float | None = None
        self._model: nn.Module | None = None

    def watch(self, model: nn.Module) -> list[str | Output]:
        self._model = model
        return ["", *(Output(name) for name in self.modules)]  # the root's input holds the lengths

    def extra_loss(self, trainer: Any, outputs: Any, targets: Any) -> Tensor | None:
        spikes = [trainer.activity[name].output for name in self.modules]
        lengths = input_lengths((trainer.activity[""].input,))
        if lengths is not None:  # padded steps count neither as spikes nor as steps
            mask = time_mask(lengths, spikes[0].shape[0], getattr(self._model, "pad", "end"))
            spikes = [s * mask.view(*mask.shape, *([1] * (s.dim() - 2))).to(s.dtype) for s in spikes]
            real: int | Tensor = lengths.sum()
        else:
            real = spikes[0].shape[0] * spikes[0].shape[1]
        penalty = spike_count_penalty(spikes, real, self.reg_thr)
        self.last = float(penalty.detach())
        return penalty

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        if self.last is not None:
            logs.update(spike_penalty=self.last)

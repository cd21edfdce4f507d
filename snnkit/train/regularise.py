"""Firing-rate regularisation with a warm-up, as a :class:`~snnkit.train.Callback` adding to the loss.

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

from torch import Tensor, nn

from snnkit.errors import ConfigError, check_nonneg_int
from snnkit.train.loop import Callback

__all__ = ["FiringRateRegulariser"]


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

    def watch(self, model: nn.Module) -> list[str]:
        return list(self.modules)

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


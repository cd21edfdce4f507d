"""Recording apart from scoring: :class:`SpikeRecorder` hooks a model's spiking layers and counts spikes.

A notebook reports from it the mean firing rate per layer (spikes per neuron per time step per sample;
the G2GNet authors report hidden rates of about 0.015-0.03), per-neuron rates for histograms and, on
request, the spikes of one batch for a raster plot. ``snnkit.train.metrics.SpikeRecorder`` is this class.

Variable-length inputs (``snnkit.data.pad_collate``): when the model is called with the tuple
``(x, lengths)`` (``x`` time-first ``[T_max, B, C]`` zero-padded at the end, ``lengths`` ``[B]``), a
forward pre-hook on the model captures ``lengths`` and the padded steps ``t >= lengths[b]`` count neither
as spikes nor as steps in any rate (a neuron that keeps firing on padding would otherwise inflate them).
A model whose batches are padded before each sequence says so with ``model.pad == "start"``
(:func:`snnkit.data.pad_collate`); the recorder then masks the leading steps instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch

from snnkit.data.sequences import time_mask
from snnkit.errors import check_positive_int

log = logging.getLogger(__name__)

__all__ = ["SpikeRecorder", "input_lengths"]


def input_lengths(inputs: Any) -> torch.Tensor | None:
    """``lengths`` ``[B]`` when a model's positional inputs are ``((x, lengths), ...)`` (contract item 5), else None."""
    first = inputs[0] if isinstance(inputs, tuple) and inputs else None
    if isinstance(first, (tuple, list)) and len(first) == 2 and isinstance(first[1], torch.Tensor):
        lengths = first[1]
        if lengths.dim() == 1 and not lengths.is_floating_point() and lengths.dtype != torch.bool:
            return lengths
    return None


class _LayerStats:
    __slots__ = ("counts", "steps", "batches", "spikes", "n_neurons")

    def __init__(self) -> None:
        self.counts: torch.Tensor | None = None  # float64 [N], spikes summed over (real) time steps and batch
        self.steps = 0  # sum over recorded batches of the real (t, b) pairs: T * B without padding
        self.batches = 0
        self.spikes: torch.Tensor | None = None  # bool [T, B, N] of the first batch (keep_spikes)
        self.n_neurons = 0


class SpikeRecorder:
    """Record the spikes of a model's spiking layers through forward hooks.

    Use as a context manager around evaluation (or training) forward passes::

        with SpikeRecorder(model, keep_spikes=True, max_batches=10) as rec:
            for x, y in loader:
                model(x)
        rec.firing_rates()      # {"lif1": 0.021, ...}

    Which modules are recorded: with ``names``, exactly the modules with those qualified names (from
    ``model.named_modules()``); otherwise every :class:`snnkit.neurons.LIF`, every
    :class:`snnkit.neurons.IFNode` (its :class:`~snnkit.neurons.LIFNode` too) and every instance of one
    of ``module_types`` (e.g. snnTorch's ``Leaky``). Each recorded module's forward must return spikes time-first,
    ``[T, B, ...]`` (or a tuple whose first element is that, as snnTorch's neurons with
    ``init_hidden`` do); trailing dimensions are flattened into neurons ``N``.

    ``max_batches`` limits the number of forward calls recorded per layer (later calls are ignored).
    With ``keep_spikes`` the first recorded batch is stored as a bool tensor ``[T, B, N]`` on the CPU.
    Spikes are detached, so the recorder works under ``torch.no_grad`` and in training alike and never
    changes the outputs or gradients. Entering the context clears previous statistics; leaving it
    removes the hooks (the statistics stay readable).

    Padding: when the model's input is ``(x, lengths)`` (see the module docstring) only the real steps
    of each sample count; the kept spikes are zero on padded steps.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        module_types: type | tuple[type, ...] | None = None,
        names: Iterable[str] | None = None,
        keep_spikes: bool = False,
        max_batches: int | None = None,
    ) -> None:
        self.model = model
        self.keep_spikes = bool(keep_spikes)
        self.max_batches = check_positive_int("max_batches", max_batches, allow_none=True, where="SpikeRecorder")
        self._modules = self._select(model, module_types, names)
        self._stats: dict[str, _LayerStats] = {name: _LayerStats() for name in self._modules}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._lengths: torch.Tensor | None = None  # of the model call in progress (pre-hook)

    # -- selection ---------------------------------------------------------------------------------
    @staticmethod
    def _select(
        model: torch.nn.Module,
        module_types: type | tuple[type, ...] | None,
        names: Iterable[str] | None,
    ) -> dict[str, torch.nn.Module]:
        named = dict(model.named_modules())
        if names is not None:
            wanted = list(names)
            unknown = [n for n in wanted if n not in named]
            if unknown:
                raise ValueError(
                    f"SpikeRecorder: modules {unknown} not found in the model; available: "
                    f"{sorted(k for k in named if k)}"
                )
            return {n: named[n] for n in wanted}
        from snnkit.neurons import LIF, IFNode

        types: tuple[type, ...] = (LIF, IFNode)  # IFNode covers LIFNode (a subclass)
        if module_types is not None:
            types += module_types if isinstance(module_types, tuple) else (module_types,)
        chosen = {(name or type(mod).__name__): mod for name, mod in named.items() if isinstance(mod, types)}
        if not chosen:
            raise ValueError(
                f"SpikeRecorder found no spiking module to record: none is an instance of "
                f"{[t.__name__ for t in types]}; pass module_types or names"
            )
        return chosen

    # -- hooks ---------------------------------------------------------------------------------------
    def _make_hook(self, name: str):
        def hook(module: torch.nn.Module, inputs: Any, output: Any) -> None:
            stats = self._stats[name]
            if self.max_batches is not None and stats.batches >= self.max_batches:
                return
            spk = output[0] if isinstance(output, (tuple, list)) else output
            if not isinstance(spk, torch.Tensor) or spk.dim() < 2:
                raise ValueError(
                    f"SpikeRecorder: module {name!r} returned "
                    f"{tuple(spk.shape) if isinstance(spk, torch.Tensor) else type(spk).__name__}; "
                    "expected time-first spikes [T, B, ...]"
                )
            with torch.no_grad():
                flat = spk.detach().reshape(spk.shape[0], spk.shape[1], -1).float()
                real = flat.shape[0] * flat.shape[1]
                if self._lengths is not None:
                    if self._lengths.numel() != flat.shape[1]:
                        raise ValueError(
                            f"SpikeRecorder: module {name!r} has batch size {flat.shape[1]} but the model's "
                            f"input has {self._lengths.numel()} lengths"
                        )
                    mask = time_mask(self._lengths.to(flat.device), flat.shape[0], getattr(self.model, "pad", "end"))
                    flat = flat * mask[..., None]
                    real = int(mask.sum())
                # per-batch sum in float32 is exact for 0/1 spikes while T*B < 2**24
                counts = flat.sum(dim=(0, 1)).to("cpu", torch.float64)
            if stats.counts is None:
                stats.counts = counts
                stats.n_neurons = counts.numel()
            elif counts.numel() != stats.n_neurons:
                raise ValueError(
                    f"SpikeRecorder: module {name!r} changed its neuron count from {stats.n_neurons} "
                    f"to {counts.numel()} between batches"
                )
            else:
                stats.counts += counts
            stats.steps += real
            if self.keep_spikes and stats.spikes is None:
                stats.spikes = (flat != 0).to("cpu")
            stats.batches += 1

        return hook

    def reset(self) -> None:
        """Forget everything recorded so far."""
        self._stats = {name: _LayerStats() for name in self._modules}

    def _capture_lengths(self, module: torch.nn.Module, inputs: Any) -> None:
        self._lengths = input_lengths(inputs)

    def attach(self) -> SpikeRecorder:
        """Register the hooks (what entering the context does, without clearing statistics)."""
        if not self._handles:
            self._handles = [self.model.register_forward_pre_hook(self._capture_lengths)]
            self._handles += [m.register_forward_hook(self._make_hook(n)) for n, m in self._modules.items()]
        return self

    def detach(self) -> None:
        """Remove the hooks (what leaving the context does)."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self._lengths = None

    def __enter__(self) -> SpikeRecorder:
        self.reset()
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    # -- results -------------------------------------------------------------------------------------
    @property
    def layer_names(self) -> list[str]:
        """Names of the modules being recorded, in model order."""
        return list(self._modules)

    def _recorded(self) -> dict[str, _LayerStats]:
        return {n: s for n, s in self._stats.items() if s.counts is not None and s.steps > 0}

    def firing_rates(self) -> dict[str, float]:
        """Mean spikes per neuron per time step per sample, for every layer that saw at least one batch."""
        return {
            n: float(s.counts.sum().item() / (s.n_neurons * s.steps)) for n, s in self._recorded().items()
        }

    def neuron_rates(self) -> dict[str, torch.Tensor]:
        """Per-neuron mean rate ``[N]`` (float64, CPU) for every recorded layer; for histograms."""
        return {n: s.counts / s.steps for n, s in self._recorded().items()}

    def spike_counts(self) -> dict[str, torch.Tensor]:
        """Per-neuron total spike count ``[N]`` over all recorded steps and samples."""
        return {n: s.counts.clone() for n, s in self._recorded().items()}

    def batches(self) -> dict[str, int]:
        """Number of forward calls recorded per layer."""
        return {n: s.batches for n, s in self._stats.items()}

    def spikes(self, name: str) -> torch.Tensor:
        """Bool spikes ``[T, B, N]`` of the first recorded batch of layer ``name`` (needs keep_spikes)."""
        if name not in self._stats:
            raise KeyError(f"no recorded layer {name!r}; recorded layers: {self.layer_names}")
        if not self.keep_spikes:
            raise RuntimeError("spikes were not kept; create the SpikeRecorder with keep_spikes=True")
        spk = self._stats[name].spikes
        if spk is None:
            raise RuntimeError(f"layer {name!r} has not been called yet, so no spikes were kept")
        return spk

    def mean_firing_rate(self) -> float:
        """Spikes per neuron per step per sample over all recorded neurons of all layers (``nan`` if none)."""
        rec = self._recorded()
        total = sum(float(s.counts.sum().item()) for s in rec.values())
        denom = sum(s.n_neurons * s.steps for s in rec.values())
        return total / denom if denom else float("nan")

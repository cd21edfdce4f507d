"""Recurrent-free spiking classifiers for Spiking Heidelberg Digits: LIF vs SPSN vs ParaLIF vs non-spiking.

Yarga & Wood, "Accelerating SNN Training with Stochastic Parallelizable Spiking Neurons", arXiv 2306.12666
(2023), and "Accelerating spiking neural networks with parallelizable leaky integrate-and-fire neurons",
Neuromorphic Computing and Engineering (2025), doi 10.1088/2634-4386/adb7fe. Dataset: Cramer et al., IEEE
TNNLS 2020.

Architecture (the authors' ``create_network``): ``nb_layers`` × (Linear + spiking population of
``hidden_size``) → Linear + non-firing read-out population of ``n_classes``; every Linear is Kaiming-uniform
(gain 1, fan-in) with a zero bias. The read-out's membrane potential ``[T, B, n_classes]`` is reduced over
time by ``loss_mode`` (``mean``, ``max`` or ``last``) into the logits that cross-entropy sees:

* ``LIF``: current-based LIF (:class:`snnkit.neurons.CubaLIF` in the authors' form, input gain 1 − β, reset
  to zero) and a leaky-integrator read-out;
* ``SPSN-SB`` / ``SPSN-GS``: the stochastic parallel neuron (:class:`snnkit.neurons.SPSN`) and the same
  read-out;
* ``ParaLIF``: the successor (:class:`snnkit.neurons.ParaLIF`) with its spike mode, learnable τ / θ and
  optional recurrence;
* ``Non-Spiking``: Linear + ReLU per time step, and a plain Linear read-out (no integration), as the authors.

Variable lengths: the network takes ``(x [T, B, C], lengths [B])`` padded before each sequence (``pad =
"start"``, the authors' placement) or after it (``"end"``). Every layer's input current is zero on padded
steps and every hidden output is masked there, so the real steps compute exactly what the unpadded sample
would (integration starts from rest at the first real step; a stochastic neuron does not fire on padding),
and the time reduction counts real steps only. The authors' unmasked mean over the padded batch is thus
not reproduced: a sample's logits do not depend on the other samples of its batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import torch
from pydantic import Field, ValidationInfo, model_validator
from torch import Tensor, nn

from snnkit.config import NO_RESULT_EFFECT, NotebookParams, register
from snnkit.data.sequences import PADS, last_step, masked_max, masked_mean, time_mask
from snnkit.errors import ConfigError, check_positive_int, check_positive_number
from snnkit.neurons.buffers import donate

__all__ = ["LOSS_MODES", "NEURONS", "PARALIF_MODES", "ShdNet", "SpsnShdParams"]

NEURONS: tuple[str, ...] = ("LIF", "SPSN-SB", "SPSN-GS", "ParaLIF", "Non-Spiking")
LOSS_MODES: tuple[str, ...] = ("mean", "max", "last")
PARALIF_MODES: tuple[str, ...] = ("GS", "SB", "TRB", "D", "SD", "TD", "TRD", "T", "ST", "TT", "TRT")


def _linear(n_in: int, n_out: int) -> nn.Linear:
    """The authors' initialisation: Kaiming-uniform with gain 1 (bound √(3 / fan_in)), zero bias."""
    layer = nn.Linear(n_in, n_out)
    nn.init.kaiming_uniform_(layer.weight, a=0, mode="fan_in", nonlinearity="linear")
    nn.init.zeros_(layer.bias)
    return layer


class ShdNet(nn.Module):
    """``nb_layers`` hidden spiking layers and a read-out for event sequences (see the module docstring).

    Args:
        n_in, n_classes: input channels (700 for SHD) and classes (20).
        neuron: one of :data:`NEURONS`.
        hidden_size, nb_layers: width and number of hidden layers.
        tau_mem, tau_syn, dt: time constants and step, in seconds (α = exp(−dt/τ_syn), β = exp(−dt/τ_mem)).
        loss_mode: how the read-out's potential is reduced over (real) time steps: mean, max or last.
        pad: where the batches carry their padding, "start" or "end" (:func:`snnkit.data.pad_collate`).
        spike_mode, learn_tau, learn_thr, recurrent, surrogate: ParaLIF's options (ignored otherwise,
            except ``surrogate``, which the LIF uses too).
    """

    def __init__(
        self,
        n_in: int,
        n_classes: int,
        *,
        neuron: str = "SPSN-SB",
        hidden_size: int = 128,
        nb_layers: int = 3,
        tau_mem: float = 20e-3,
        tau_syn: float = 20e-3,
        dt: float = 1e-3,
        loss_mode: str = "mean",
        pad: str = "start",
        spike_mode: str = "SB",
        learn_tau: bool = False,
        learn_thr: bool = False,
        recurrent: bool = False,
        surrogate: str = "fast_sigmoid",
    ) -> None:
        super().__init__()
        where = "ShdNet"
        for key, value, allowed in (("neuron", neuron, NEURONS), ("loss_mode", loss_mode, LOSS_MODES),
                                    ("pad", pad, PADS), ("spike_mode", spike_mode, PARALIF_MODES)):
            if value not in allowed:
                raise ConfigError(key, value, f"one of {list(allowed)}", where=where)
        for key, value in (("n_in", n_in), ("n_classes", n_classes), ("hidden_size", hidden_size),
                           ("nb_layers", nb_layers)):
            check_positive_int(key, value, where=where)
        for key, value in (("tau_mem", tau_mem), ("tau_syn", tau_syn), ("dt", dt)):
            check_positive_number(key, value, where=where)
        if recurrent and neuron != "ParaLIF":
            raise ConfigError("recurrent", recurrent, f"False for neuron={neuron!r} (only ParaLIF has a recurrent "
                              "form)", where=where)
        self.neuron, self.loss_mode, self.pad = neuron, loss_mode, pad
        self.hidden_size, self.nb_layers, self.n_classes = hidden_size, nb_layers, n_classes
        self.alpha = math.exp(-dt / tau_syn)
        self.beta = math.exp(-dt / tau_mem)
        widths = [n_in] + [hidden_size] * nb_layers
        self.fcs = nn.ModuleList(_linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        opts = {"spike_mode": spike_mode, "learn_tau": learn_tau, "learn_thr": learn_thr, "recurrent": recurrent,
                "surrogate": surrogate, "tau_mem": tau_mem, "tau_syn": tau_syn, "dt": dt}
        self.neurons = nn.ModuleList(self._hidden(neuron, hidden_size, opts) for _ in range(nb_layers))
        self.readout_fc = _linear(hidden_size, n_classes)
        self.readout = self._readout(neuron, n_classes, opts)

    # -- construction ---------------------------------------------------------------------------------
    @staticmethod
    def _hidden(neuron: str, n: int, o: dict[str, Any]) -> nn.Module:
        from snnkit.neurons import spsn

        taus = {"tau_mem": o["tau_mem"], "tau_syn": o["tau_syn"], "dt": o["dt"]}
        if neuron == "Non-Spiking":
            return spsn.NonSpiking()
        if neuron == "LIF":  # the authors' LIF: gain 1 - β, spike from U_t, then U_t·(1 - S_t) (detached)
            from snnkit.neurons import cuba, surrogate

            key, scale = spsn.PARALIF_SURROGATES[o["surrogate"]]  # fast sigmoid 100 / arctan 2, as the authors
            return cuba.CubaLIF.from_taus(o["tau_syn"], o["tau_mem"], o["dt"], form="spsn", reset="zero",
                                          surrogate=surrogate.get(o["surrogate"], **{key: scale}))
        if neuron in ("SPSN-SB", "SPSN-GS"):
            return spsn.SPSN(firing=neuron.split("-")[1], **taus)
        return spsn.ParaLIF(o["spike_mode"], **taus, n_neurons=n, learn_tau=o["learn_tau"], learn_thr=o["learn_thr"],
                            surrogate=o["surrogate"], recurrent=o["recurrent"])

    @staticmethod
    def _readout(neuron: str, n: int, o: dict[str, Any]) -> nn.Module:
        from snnkit.neurons.spsn import LeakyIntegrator

        if neuron == "Non-Spiking":  # the authors' non-spiking read-out: the Linear alone, no integration
            return nn.Identity()
        if neuron == "ParaLIF":  # the authors' ParaLIF read-out has per-neuron τ, learned with learn_tau
            return LeakyIntegrator(tau_mem=o["tau_mem"], tau_syn=o["tau_syn"], dt=o["dt"], n_neurons=n,
                                   learn_tau=o["learn_tau"])
        return LeakyIntegrator(tau_mem=o["tau_mem"], tau_syn=o["tau_syn"], dt=o["dt"])

    @property
    def spiking_layers(self) -> list[str]:
        """Names (``named_modules``) of the hidden spiking populations: what rates, rasters and the regulariser
        read (none for the non-spiking baseline)."""
        if self.neuron == "Non-Spiking":
            return []
        return [f"neurons.{i}" for i in range(self.nb_layers)]

    @property
    def n_hidden_neurons(self) -> int:
        return self.hidden_size * self.nb_layers

    # -- forward --------------------------------------------------------------------------------------
    def _split(self, inputs: Any) -> tuple[Tensor, Tensor | None]:
        if isinstance(inputs, (tuple, list)) and len(inputs) == 2:
            x, lengths = inputs
            return x, lengths
        if isinstance(inputs, Tensor):
            return inputs, None
        raise ConfigError("inputs", type(inputs).__name__, "(x [T, B, C], lengths [B]) or a tensor [T, B, C]",
                          where="ShdNet")

    def potentials(self, inputs: Any) -> tuple[Tensor, Tensor | None]:
        """The read-out's potential ``[T, B, n_classes]`` (zero on padded steps) and the lengths."""
        x, lengths = self._split(inputs)
        if x.dim() != 3:
            raise ConfigError("x.shape", tuple(x.shape), "[T, B, C] (time-first)", where="ShdNet")
        padded = lengths is not None and bool((lengths < x.shape[0]).any())  # no padding: no mask to apply
        mask = time_mask(lengths.to(x.device), x.shape[0], self.pad)[..., None] if padded else None
        h = x
        for fc, neuron in zip(self.fcs, self.neurons):
            current = fc(h)
            if mask is not None:
                current = current * mask
            h = neuron(donate(current))  # made for the neuron alone: it may keep its state there
            if mask is not None:
                h = h * mask
        out = self.readout(self.readout_fc(h) if mask is None else self.readout_fc(h) * mask)
        return out, lengths

    def reduce(self, out: Tensor, lengths: Tensor | None) -> Tensor:
        """``loss_mode`` over the real steps: ``[T, B, C]`` → logits ``[B, C]``."""
        if lengths is None:
            lengths = torch.full((out.shape[1],), out.shape[0], dtype=torch.int64, device=out.device)
        if self.loss_mode == "mean":
            return masked_mean(out, lengths, self.pad)
        if self.loss_mode == "max":
            return masked_max(out, lengths, self.pad)
        return last_step(out, lengths, self.pad)

    def forward(self, inputs: Any) -> Tensor:
        """Logits ``[B, n_classes]`` for ``(x, lengths)`` (or an unpadded ``x``)."""
        return self.reduce(*self.potentials(inputs))

    @classmethod
    def from_params(cls, p: Mapping[str, Any], n_in: int, n_classes: int) -> ShdNet:
        """The network a ``spsn_shd`` parameter set (a validated mapping) describes."""
        keys = ("neuron", "hidden_size", "nb_layers", "tau_mem", "tau_syn", "dt", "loss_mode", "pad", "spike_mode",
                "learn_tau", "learn_thr", "recurrent", "surrogate")
        return cls(n_in, n_classes, **{k: p[k] for k in keys})


@register("spsn_shd")
class SpsnShdParams(NotebookParams):
    """Parameters of ``notebooks/spsn_shd.ipynb``: the seed's ``run.py`` options plus ParaLIF's.

    Defaults are the published basic SPSN-SB run (arXiv 2306.12666: Adamax 1e-3, batch 64, 200 epochs, 3×128,
    τ_mem = τ_syn = 20 ms, dt = 1 ms, loss mode mean, seed 0).
    """

    seed: int = Field(0, ge=0, le=2**32 - 1, description="seeds Python, NumPy, torch, data order, augmentation "
                      "and stochastic firing")
    dataset: Literal["shd", "shd-standin", "shd-standin-small"] = Field(
        "shd", description="Spiking Heidelberg Digits, its SHD-sized synthetic stand-in, or the small stand-in "
        "shipped with snnkit")
    neuron: Literal[NEURONS] = Field("SPSN-SB", description="LIF, SPSN-SB, SPSN-GS, ParaLIF or Non-Spiking")  # type: ignore[valid-type]
    nb_epochs: int = Field(200, ge=1, le=10000, description="training epochs")
    tau_mem: float = Field(20e-3, gt=0.0, description="membrane time constant (s)")
    tau_syn: float = Field(20e-3, gt=0.0, description="synaptic time constant (s)")
    dt: float = Field(1e-3, gt=0.0, description="time bin (s)")
    max_time: float | None = Field(None, gt=0.0, description="crop every sample after this many seconds")
    batch_size: int = Field(64, ge=1, le=65536, description="mini-batch size")
    hidden_size: int = Field(128, ge=1, le=65536, description="neurons per hidden layer")
    nb_layers: int = Field(3, ge=1, le=16, description="hidden layers")
    reg_thr: float = Field(0.0, ge=0.0, description="spike regulariser threshold (0: off): relu(Σ r̄ − reg_thr·N)²")
    loss_mode: Literal[LOSS_MODES] = Field("mean", description="read-out over time: mean, max or last")  # type: ignore[valid-type]
    data_augmentation: bool = Field(False, description="random channel shift and time/channel scaling of "
                                    "training samples")
    h_shift: float = Field(0.1, ge=0.0, lt=1.0, description="augmentation: channel shift, fraction of the channels")
    scale: float = Field(0.3, ge=0.0, lt=1.0, description="augmentation: scale drawn from [1 − scale, 1 + scale]")
    pad: Literal[PADS] = Field("start", description="padding before (start, the authors) or after each "  # type: ignore[valid-type]
                               "sequence; results do not depend on it")
    spike_mode: Literal[PARALIF_MODES] = Field("SB", description="ParaLIF spike function")  # type: ignore[valid-type]
    learn_tau: bool = Field(False, description="ParaLIF: learn τ per neuron")
    learn_thr: bool = Field(False, description="ParaLIF: learn θ per neuron")
    recurrent: bool = Field(False, description="ParaLIF: recurrent connections in the hidden layers")
    surrogate: Literal["fast_sigmoid", "atan"] = Field("fast_sigmoid", description="surrogate of the LIF and "
                                                        "ParaLIF's threshold modes")
    lr: float = Field(1e-3, gt=0.0, description="Adamax learning rate")
    lr_step: int | None = Field(None, ge=1, description="StepLR: halve the learning rate every lr_step epochs "
                                "(ParaLIF's runs: 25); None: constant")
    train_subset: int | None = Field(None, ge=1, description="use at most this many training samples "
                                     "(class-stratified)")
    test_subset: int | None = Field(None, ge=1, description="use at most this many test samples")
    save_model: bool = Field(False, description="save the trained weights in the run directory",
                             json_schema_extra=NO_RESULT_EFFECT)

    @model_validator(mode="after")
    def _cross_field(self, info: ValidationInfo) -> SpsnShdParams:
        if (info.context or {}).get("partial"):
            return self
        if self.recurrent and self.neuron != "ParaLIF":
            raise ConfigError("recurrent", True, f"false for neuron={self.neuron!r} (only ParaLIF is recurrent)",
                              where=type(self).__name__)
        return self

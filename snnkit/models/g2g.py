"""G2GNet-family fully connected spiking networks.

Konstantaropoulos, Smirnakis & Papadopouli, "Neuro-inspired Ensemble-to-Ensemble Communication
Primitives for Sparse and Efficient ANNs", arXiv 2508.14140 (SNN port by the authors).

Architecture (the authors' code, arXiv 2508.14140): input → ``n_hidden`` × (FC ``hidden_dim`` + LIF) →
FC ``n_classes`` + LIF. Every LIF has β=0.9 and θ=1.0 as learnable per-layer scalars, subtract reset
by θ from the previous step's (detached) spike and the arctan surrogate with α=2. The network's output
is the spike count of the output layer summed over the ``T`` steps; training uses cross-entropy on
these counts.

This module holds the dense baseline. The hidden layers are built by a ``layer_factory`` so that the
sparse group-to-group variants can swap in masked layers without touching the forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from snnkit.config import NotebookParams, register
from snnkit.data.encoding import ENCODINGS, encode
from snnkit.errors import ConfigError, check_positive_int
from snnkit.neurons import LIF, surrogate

__all__ = ["G2GNet", "G2GNetFashionMNISTParams", "spike_count_loss"]

LayerFactory = Callable[[int, int, int], nn.Module]  # (layer_index, in_features, out_features)


def _dense_layer(index: int, in_features: int, out_features: int) -> nn.Module:
    return nn.Linear(in_features, out_features)


class G2GNet(nn.Module):
    """Multi-layer fully connected SNN with spike-count read-out.

    Args:
        in_features: size of the flattened input (784 for Fashion-MNIST).
        n_classes: number of output neurons.
        hidden_dim: width of every hidden layer.
        n_hidden: number of hidden layers (3 in the authors' code).
        T: number of simulation steps.
        enc: input encoding, ``"current"`` or ``"rate"`` (see :mod:`snnkit.data.encoding`).
        enc_scale, enc_bias: affine map of the current encoding.
        beta, threshold, learn_beta, learn_threshold, reset: LIF settings, shared by all layers (each
            layer has its own learnable copy).
        surrogate: the spike function of every LIF: an object with its own parameter, e.g.
            ``surrogate.FastSigmoid(slope=25.0)``, or a surrogate's name (its default parameter).
        layer_factory: builds hidden layer ``i`` (0-based) from ``(i, in, out)``; defaults to dense
            ``nn.Linear``. The output layer is always dense.

    ``forward(x)`` takes images ``[B, ...]`` (any trailing shape, flattened) and returns spike counts
    ``[B, n_classes]``. With the current encoding the input is identical at every step, so the first
    layer's product is computed once and broadcast over time — exactly equal to applying it per step.
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        *,
        hidden_dim: int = 2048,
        n_hidden: int = 3,
        T: int = 50,
        enc: str = "current",
        enc_scale: float = 1.0,
        enc_bias: float = 0.0,
        beta: float = 0.9,
        threshold: float = 1.0,
        learn_beta: bool = True,
        learn_threshold: bool = True,
        reset: str = "subtract",
        surrogate: surrogate.SpikeFunction | str = "atan",
        layer_factory: LayerFactory | None = None,
    ) -> None:
        super().__init__()
        for key, value in (("in_features", in_features), ("n_classes", n_classes),
                           ("hidden_dim", hidden_dim), ("n_hidden", n_hidden), ("T", T)):
            check_positive_int(key, value, where="G2GNet")
        if enc not in ENCODINGS:
            raise ConfigError("enc", enc, f"one of {list(ENCODINGS)}", where="G2GNet")
        self.T = T
        self.enc = enc
        self.enc_scale = float(enc_scale)
        self.enc_bias = float(enc_bias)
        factory = layer_factory or _dense_layer

        def lif() -> LIF:
            return LIF(beta=beta, threshold=threshold, learn_beta=learn_beta, learn_threshold=learn_threshold,
                       reset=reset, surrogate=surrogate)

        sizes = [in_features] + [hidden_dim] * n_hidden
        self.layers = nn.ModuleList(factory(i, sizes[i], sizes[i + 1]) for i in range(n_hidden))
        self.neurons = nn.ModuleList(lif() for _ in range(n_hidden))
        self.fc_out = nn.Linear(hidden_dim, n_classes)
        self.lif_out = lif()

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, in_features: int, n_classes: int,
                    **kwargs: Any) -> G2GNet:
        """The network a validated parameter set of a G2GNet notebook describes
        (:class:`G2GNetFashionMNISTParams`); ``kwargs`` (e.g. ``layer_factory``) go to the constructor."""
        keys = ("hidden_dim", "n_hidden", "T", "enc", "enc_scale", "enc_bias", "beta", "threshold", "learn_beta",
                "learn_threshold", "reset")
        return cls(in_features, n_classes, **{k: params[k] for k in keys},
                   surrogate=surrogate.from_params(params), **kwargs)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Flatten ``[B, ...]`` images and encode them into ``[T, B, features]``."""
        x = x.flatten(1)
        if self.enc == "current":
            return encode("current", x, self.T, scale=self.enc_scale, bias=self.enc_bias)
        return encode("rate", x, self.T)

    def forward_spikes(self, x: torch.Tensor) -> torch.Tensor:
        """Output-layer spikes ``[T, B, n_classes]``."""
        h = self.encode(x)
        for i, (layer, neuron) in enumerate(zip(self.layers, self.neurons)):
            if i == 0 and self.enc == "current":
                # Constant input current: one product, broadcast over T (exact, T× cheaper).
                h = layer(h[0]).unsqueeze(0).expand(self.T, *h.shape[1:-1], -1)
            else:
                h = layer(h)
            h = neuron(h)
        return self.lif_out(self.fc_out(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_spikes(x).sum(0)


def spike_count_loss(counts: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on output spike counts (the G2GNet loss)."""
    return nn.functional.cross_entropy(counts, targets)


# -- the notebook's parameters ---------------------------------------------------------------------------
# The schema lives beside the model it configures: a new model argument and its notebook parameter are
# added in one file. (Importing it costs torch, which every consumer of a schema loads anyway.)
@register("g2gnet_fashionmnist")
class G2GNetFashionMNISTParams(NotebookParams):
    """Parameters of ``notebooks/g2gnet_fashionmnist.ipynb``.

    The defaults are the paper's settings (Konstantaropoulos et al., arXiv 2508.14140, and the authors'
    code): 3 × FC 2048 + LIF, T=50, current encoding, β=0.9, θ=1.0 (both learnable), arctan surrogate
    with α=2, Adam lr 1e-3, weight decay 1e-4, batch 256, 20 epochs.
    """

    dataset: Literal["fashionmnist", "fashionmnist-embedded"] = Field(
        "fashionmnist", description="full Fashion-MNIST, or the small subset shipped with snnkit")
    train_subset: int | None = Field(None, ge=1, description="use at most this many training samples "
                                     "(class-stratified)")
    test_subset: int | None = Field(None, ge=1, description="use at most this many test samples "
                                    "(class-stratified)")
    val_fraction: float = Field(0.0, ge=0.0, lt=0.5, description="fraction of the training set held out "
                                "for validation")
    model: Literal["dense"] = Field("dense", description="network variant")
    hidden_dim: int = Field(2048, ge=1, le=65536, description="neurons per hidden layer")
    n_hidden: int = Field(3, ge=1, le=16, description="number of hidden FC+LIF layers")
    T: int = Field(50, ge=1, le=10000, description="simulation time steps")
    enc: Literal["current", "rate"] = Field("current", description="input encoding")
    enc_scale: float = Field(1.0, description="current encoding: input = enc_scale * x + enc_bias")
    enc_bias: float = Field(0.0, description="current encoding bias")
    beta: float = Field(0.9, ge=0.0, le=1.0, description="LIF membrane decay")
    threshold: float = Field(1.0, gt=0.0, description="LIF firing threshold")
    learn_beta: bool = Field(True, description="learn beta (one scalar per layer)")
    learn_threshold: bool = Field(True, description="learn threshold (one scalar per layer)")
    reset: Literal["subtract", "zero"] = Field("subtract", description="reset mechanism")
    surrogate: Literal["atan", "fast_sigmoid"] = Field("atan", description="surrogate gradient")
    atan_alpha: float = Field(2.0, gt=0.0, description="arctan surrogate: α (peak α/2; Fang et al. 2021)")
    fast_sigmoid_slope: float = Field(25.0, gt=0.0, description="fast-sigmoid surrogate: slope k "
                                      "(Zenke & Ganguli 2018)")
    epochs: int = Field(20, ge=1, le=10000, description="training epochs")
    batch_size: int = Field(256, ge=1, le=65536, description="mini-batch size")
    lr: float = Field(1e-3, gt=0.0, description="Adam learning rate")
    weight_decay: float = Field(1e-4, ge=0.0, description="Adam weight decay")
    lr_schedule: Literal["none", "cosine"] = Field("none", description="learning-rate schedule")
    grad_clip: float | None = Field(None, gt=0.0, description="clip the gradient norm to this value "
                                    "(None: no clipping)")
    amp: bool = Field(False, description="automatic mixed precision")

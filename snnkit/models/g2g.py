"""G2GNet-family fully connected spiking networks.

Konstantaropoulos, Smirnakis & Papadopouli, "Neuro-inspired Ensemble-to-Ensemble Communication
Primitives for Sparse and Efficient ANNs", arXiv 2508.14140 (SNN port by the authors).

Architecture (``../shared/papers/g2gnet.md``): input → ``n_hidden`` × (FC ``hidden_dim`` + LIF) →
FC ``n_classes`` + LIF. Every LIF has β=0.9 and θ=1.0 as learnable per-layer scalars, subtract reset
by θ from the previous step's (detached) spike and the arctan surrogate with α=2. The network's output
is the spike count of the output layer summed over the ``T`` steps; training uses cross-entropy on
these counts.

This module holds the dense baseline. The hidden layers are built by a ``layer_factory`` so that the
sparse group-to-group variants can swap in masked layers without touching the forward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from snnkit.data.encoding import ENCODINGS, encode
from snnkit.errors import ConfigError
from snnkit.neurons import LIF

__all__ = ["G2GNet", "spike_count_loss"]

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
        beta, threshold, learn_beta, learn_threshold, reset, surrogate, surrogate_alpha: LIF settings,
            shared by all layers (each layer has its own learnable copy).
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
        surrogate: str = "atan",
        surrogate_alpha: float = 2.0,
        layer_factory: LayerFactory | None = None,
    ) -> None:
        super().__init__()
        for key, value in (("in_features", in_features), ("n_classes", n_classes),
                           ("hidden_dim", hidden_dim), ("n_hidden", n_hidden), ("T", T)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(key, value, "a positive integer")
        if enc not in ENCODINGS:
            raise ConfigError("enc", enc, f"one of {list(ENCODINGS)}")
        self.T = T
        self.enc = enc
        self.enc_scale = float(enc_scale)
        self.enc_bias = float(enc_bias)
        factory = layer_factory or _dense_layer
        surrogate_kwargs = {"alpha": surrogate_alpha} if surrogate == "atan" else {"slope": surrogate_alpha}

        def lif() -> LIF:
            return LIF(beta=beta, threshold=threshold, learn_beta=learn_beta, learn_threshold=learn_threshold,
                       reset=reset, surrogate=surrogate, surrogate_kwargs=surrogate_kwargs)

        sizes = [in_features] + [hidden_dim] * n_hidden
        self.layers = nn.ModuleList(factory(i, sizes[i], sizes[i + 1]) for i in range(n_hidden))
        self.neurons = nn.ModuleList(lif() for _ in range(n_hidden))
        self.fc_out = nn.Linear(hidden_dim, n_classes)
        self.lif_out = lif()

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

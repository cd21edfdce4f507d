"""G2GNet-family fully connected spiking networks.

Konstantaropoulos, Smirnakis & Papadopouli, "Neuro-inspired Ensemble-to-Ensemble Communication
Primitives for Sparse and Efficient ANNs", arXiv 2508.14140 (SNN port by the authors).

Architecture (the authors' code, arXiv 2508.14140): input → ``n_hidden`` × (FC ``hidden_dim`` + LIF) →
FC ``n_classes`` + LIF. Every LIF has β=0.9 and θ=1.0 as learnable per-layer scalars, subtract reset
by θ from the previous step's (detached) spike and the arctan surrogate with α=2. The network's output
is the spike count of the output layer summed over the ``T`` steps; training uses cross-entropy on
these counts.

The hidden layers are built by a ``layer_factory``: ``nn.Linear`` for the dense baseline, or
:class:`snnkit.sparse.MaskedLinear` with seeded group-to-group masks (:mod:`snnkit.sparse.masks`: ``index``,
``random``, ``mixer``) for the sparse variants; :meth:`G2GNet.from_params` picks the one a notebook's
parameters name. Dynamic sparse training (:mod:`snnkit.sparse.dst`) and the firing-rate regulariser
(:mod:`snnkit.train.regularise`) are callbacks of the trainer; :mod:`snnkit.experiments.g2gnet` wires
them for the notebooks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import torch
from pydantic import Field, ValidationInfo, model_validator
from torch import nn

from snnkit.config import NO_RESULT_EFFECT, NotebookParams, register
from snnkit.data.encoding import ENCODINGS, encode
from snnkit.errors import ConfigError, check_positive_int
from snnkit.neurons import LIF, surrogate

__all__ = ["G2GNet", "G2GNetCIFAR10Params", "G2GNetCIFAR100Params", "G2GNetCIFARParams", "G2GNetFashionMNISTParams",
           "G2GNetParams", "spike_count_loss"]

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
        """The network a validated parameter set of a G2GNet notebook describes (:class:`G2GNetParams`).

        ``model`` ``dense`` gets ``nn.Linear`` hidden layers; ``index``, ``random`` and ``mixer`` get
        :class:`~snnkit.sparse.MaskedLinear` layers with the masks of
        :func:`snnkit.sparse.build_group_masks` (``groups``, ``p_intra``, ``p_inter``, seeded by ``seed``).
        ``kwargs`` go to the constructor (a ``layer_factory`` given there wins).
        """
        keys = ("hidden_dim", "n_hidden", "T", "enc", "enc_scale", "enc_bias", "beta", "threshold", "learn_beta",
                "learn_threshold", "reset")
        model = params.get("model", "dense")
        if model != "dense" and "layer_factory" not in kwargs:
            from snnkit.sparse import build_group_masks, masked_layer_factory

            sizes = [in_features] + [params["hidden_dim"]] * params["n_hidden"]
            masks = build_group_masks(model, sizes, groups=params["groups"], p_intra=params["p_intra"],
                                      p_inter=params["p_inter"], seed=params["seed"])
            kwargs["layer_factory"] = masked_layer_factory(masks)
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



# -- the notebooks' parameters ----------------------------------------------------------------------------
# The schemas live beside the model they configure: a new model argument and its notebook parameter are
# added in one file. (Importing them costs torch, which every consumer of a schema loads anyway.)
class G2GNetParams(NotebookParams):
    """Parameters shared by the three G2GNet notebooks; they mirror the authors' command line.

    The defaults are the paper's settings (Konstantaropoulos et al., arXiv 2508.14140, and the authors'
    code): 3 × FC 2048 + LIF, T=50, current encoding, β=0.9, θ=1.0 (both learnable), arctan surrogate
    with α=2, Adam lr 1e-3, weight decay 1e-4, batch 256, 20 epochs; sparse models: 8 groups,
    p_intra=1, p_inter=0.15; dynamic sparse training every 1000 steps, 10 % rewired, prune ``set``,
    grow ``hebb``; firing-rate regularisation off (warm-up 10 epochs when on).

    Cross-field rules (checked on a complete parameter set): dynamic sparse training needs a sparse
    model; ``groups`` divides ``hidden_dim``; ``mixer`` needs ``hidden_dim / groups ≥ groups`` so that
    every fc2 group receives from every fc1 group.
    """

    dataset: str = Field("", description="the dataset (each notebook's schema lists its choices)")
    train_subset: int | None = Field(None, ge=1, description="use at most this many training samples "
                                     "(class-stratified)")
    test_subset: int | None = Field(None, ge=1, description="use at most this many test samples "
                                    "(class-stratified)")
    val_fraction: float = Field(0.0, ge=0.0, lt=0.5, description="fraction of the training set held out "
                                "for validation")
    model: Literal["dense", "index", "random", "mixer"] = Field(
        "dense", description="dense, or group-to-group masks: index (contiguous groups), random (permuted), "
        "mixer (contiguous / interleaved by layer)")
    groups: int = Field(8, ge=1, le=4096, description="groups (ensembles) per layer side of a sparse model")
    p_intra: float = Field(1.0, ge=0.0, le=1.0, description="connection probability within a group")
    p_inter: float = Field(0.15, ge=0.0, le=1.0, description="connection probability between groups "
                           "(sparse models only)")
    sparsity_mode: Literal["static", "dynamic"] = Field(
        "static", description="static masks, or dynamic sparse training (prune and grow; sparse models)")
    cp: Literal["set", "random", "hebb"] = Field("set", description="DST prune rule: set (smallest |w|), "
                                                 "random, hebb (lowest co-activity)")
    cg: Literal["hebb", "random"] = Field("hebb", description="DST grow rule: hebb (highest co-activity), random")
    dst_every: int = Field(1000, ge=1, description="optimiser steps between DST events")
    dst_fraction: float = Field(0.1, gt=0.0, le=1.0, description="share of a layer's active connections "
                                "rewired per DST event")
    hebb_window: int = Field(1, ge=1, le=64, description="batches the Hebbian co-activity is computed over "
                             "(1: the last batch before an event, as the original); below dst_every one running "
                             "sum per layer, else one out × in matrix per batch and layer (16 MiB at 2048²)")
    regrow: Literal["zero", "keep"] = Field("zero", description="value of a regrown weight: zero, or the "
                                            "value it had when pruned")
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
    enforce_sparsity: bool = Field(False, description="firing-rate regularisation of the hidden layers after "
                                   "the warm-up (λ 1e-4→1e-2, target rate 0.25→0.09)")
    warmup_epochs: int = Field(10, ge=0, le=10000, description="epochs without the firing-rate regulariser")
    epochs: int = Field(20, ge=1, le=10000, description="training epochs")
    batch_size: int = Field(256, ge=1, le=65536, description="mini-batch size")
    lr: float = Field(1e-3, gt=0.0, description="Adam learning rate")
    weight_decay: float = Field(1e-4, ge=0.0, description="Adam weight decay")
    lr_schedule: Literal["none", "cosine"] = Field("none", description="learning-rate schedule")
    grad_clip: float | None = Field(None, gt=0.0, description="clip the gradient norm to this value "
                                    "(None: no clipping)")
    amp: bool = Field(False, description="automatic mixed precision")
    k_folds: int = Field(1, ge=1, le=100, description="k > 1: k-fold cross-validation on the training set "
                         "(fresh model per fold, mean ± std of the last epoch's validation accuracy) before "
                         "the final training")
    folds: Literal["stratified", "contiguous"] = Field(
        "stratified", description="fold split: stratified (shuffled, class-balanced) or contiguous (the "
        "original's protocol: consecutive blocks of the unshuffled training set)")

    @model_validator(mode="after")
    def _cross_field(self, info: ValidationInfo) -> G2GNetParams:
        if (info.context or {}).get("partial"):  # an override set: only a complete set is checked
            return self
        where = type(self).__name__
        if self.sparsity_mode == "dynamic" and self.model == "dense":
            raise ConfigError("sparsity_mode", "dynamic", "'static' for model='dense' (dynamic sparse training "
                              "rewires the masks of index, random or mixer)", where=where)
        if self.model != "dense":
            if self.hidden_dim % self.groups:
                raise ConfigError("groups", self.groups, f"a divisor of hidden_dim={self.hidden_dim}", where=where)
            width = self.input_width()
            if width is not None and width % self.groups:
                raise ConfigError("groups", self.groups, f"a divisor of the input width {width} (the first layer's "
                                  "inputs are grouped too)", where=where)
            if self.model == "mixer" and self.hidden_dim // self.groups < self.groups:
                raise ConfigError("groups", self.groups, f"at most √hidden_dim for model='mixer' (hidden_dim / "
                                  f"groups = {self.hidden_dim // self.groups} < groups: some fc2 groups would "
                                  "not receive from every fc1 group)", where=where)
        return self

    def input_width(self) -> int | None:
        """The network's input width for these parameters (None: not known before the data is loaded)."""
        return None


@register("g2gnet_fashionmnist")
class G2GNetFashionMNISTParams(G2GNetParams):
    """Parameters of ``notebooks/g2gnet_fashionmnist.ipynb`` (see :class:`G2GNetParams`)."""

    dataset: Literal["fashionmnist", "fashionmnist-embedded"] = Field(
        "fashionmnist", description="full Fashion-MNIST, or the small subset shipped with snnkit")

    def input_width(self) -> int:
        return 28 * 28


class G2GNetCIFARParams(G2GNetParams):
    """The CIFAR notebooks' extra parameters (see :class:`G2GNetParams`): 30 epochs (the spec: 30–40),
    random crop + flip augmentation, and the frozen ResNet-32 feature extractor (``use_resnet``)."""

    epochs: int = Field(30, ge=1, le=10000, description="training epochs")
    augment: bool = Field(True, description="random crop 32 (pad 4) + horizontal flip of training images "
                          "(raw-pixel input only; cached ResNet features are not augmented)")
    use_resnet: bool = Field(False, description="input = 512 features of a frozen CIFAR ResNet-32 (stage 2, "
                             "pooled 4×4, per-sample min-max), rate-coded (enc defaults to 'rate' then)")
    resnet_weights: str | None = Field(None, description="path of a CIFAR ResNet-32 state dict (option A or B "
                                       "shortcuts); None: pre-train one here for resnet_pretrain_epochs")
    resnet_pretrain_epochs: int = Field(0, ge=0, le=1000, description="epochs to pre-train the ResNet-32 on the "
                                        "training set when no resnet_weights is given")
    feature_cache: bool = Field(True, description="cache the extracted features once per dataset and reuse "
                                "them across runs", json_schema_extra=NO_RESULT_EFFECT)

    @model_validator(mode="before")
    @classmethod
    def _features_are_rate_coded(cls, data: Any) -> Any:
        """With ``use_resnet`` the features are rate-coded (the paper) unless ``enc`` is given."""
        if isinstance(data, Mapping) and data.get("use_resnet") is True and "enc" not in data:
            return {**data, "enc": "rate"}
        return data

    def input_width(self) -> int:
        return 512 if self.use_resnet else 3 * 32 * 32

    @model_validator(mode="after")
    def _resnet_source(self, info: ValidationInfo) -> G2GNetCIFARParams:
        if (info.context or {}).get("partial"):
            return self
        where = type(self).__name__
        if not self.use_resnet:
            if self.resnet_weights is not None or self.resnet_pretrain_epochs:
                key = "resnet_weights" if self.resnet_weights is not None else "resnet_pretrain_epochs"
                raise ConfigError(key, getattr(self, key), "unset unless use_resnet=true (the raw-pixel network "
                                  "uses no ResNet)", where=where)
            return self
        if self.resnet_weights is None and self.resnet_pretrain_epochs == 0:
            raise ConfigError("resnet_weights", None, "a path of ResNet-32 weights, or resnet_pretrain_epochs ≥ 1 "
                              "to pre-train one (use_resnet=true needs a trained backbone)", where=where)
        if self.resnet_weights is not None and self.resnet_pretrain_epochs:
            raise ConfigError("resnet_pretrain_epochs", self.resnet_pretrain_epochs, "0 when resnet_weights is given "
                              "(the backbone is either loaded or pre-trained here, not both)", where=where)
        return self


@register("g2gnet_cifar10")
class G2GNetCIFAR10Params(G2GNetCIFARParams):
    """Parameters of ``notebooks/g2gnet_cifar10.ipynb``."""

    dataset: Literal["cifar10", "cifar10-standin"] = Field(
        "cifar10", description="CIFAR-10, or its learnable stand-in built from embedded Fashion-MNIST images")


@register("g2gnet_cifar100")
class G2GNetCIFAR100Params(G2GNetCIFARParams):
    """Parameters of ``notebooks/g2gnet_cifar100.ipynb``."""

    dataset: Literal["cifar100", "cifar100-standin"] = Field(
        "cifar100", description="CIFAR-100, or its learnable 100-class stand-in built from embedded images")

"""The CIFAR-10 network of STDS (Chen, Yu, Fang, Ma, Huang & Tian, "State Transition of Dendritic Spines
Improves Learning of Sparse Spiking Neural Networks", ICML 2022, PMLR 162; papers/stds.md).

Architecture, as the authors' ``CIFAR10/model.py`` builds it (read for its semantics; C = ``channels``):

* stem: conv 3×3 (``in_channels`` → C) + BatchNorm, computed **once** on the ``[B, ...]`` image and
  repeated over the ``T`` steps (direct encoding), then LIF;
* two blocks conv 3×3 C→C + BatchNorm + LIF, max-pool 2; three more such blocks, max-pool 2;
* flatten (C·H/4·W/4 = 16384 at the paper's size) → dropout 0.5 (one mask per forward, shared over time)
  → FC → ``hidden`` (2048) → LIF → dropout → FC ``hidden`` → ``n_classes·vote`` (100) → LIF;
* voting: the mean over consecutive groups of ``vote`` (10) output neurons gives one score per class; the
  network's output is that score averaged over the ``T`` steps (the authors' ``net(img, T).mean(0)``).

No convolution and no fully connected layer has a bias (the authors' ``conv3x3`` / ``conv1x1`` use
``bias=False``; their FCs are 1×1 convolutions on the flattened map, which are ``nn.Linear`` here with the
same weights and the same default initialisation). All eight are prunable (:meth:`StdsCifarNet.prunable_layers`);
at the paper's size they hold 36,715,264 weights, 91.4 % of them in the FC 16384→2048.

LIF (SpikingJelly's multi-step ``LIFNode`` as the authors use it): τ = 2, V_th = 1, hard reset to 0 with the
reset detached, arctan surrogate α = 2, charge H = V + (X − (V − V_reset))/τ
(:class:`snnkit.neurons.hard_reset.LIFNode`).

Tensors inside are time-first ``[T, B, ...]``: convolutions, BatchNorm and pooling run on ``[T·B, ...]`` at
once (:class:`snnkit.models.multistep.MultiStep`), the FCs on ``[T, B, F]`` directly (so
:class:`snnkit.train.metrics.SynopsCounter` sees every step).
"""

from __future__ import annotations

import numbers
from typing import Any, Literal

import torch
from pydantic import Field, ValidationInfo, model_validator
from torch import Tensor, nn

from snnkit.config import NotebookParams, register
from snnkit.errors import ConfigError, check_positive_int
from snnkit.models.multistep import MultiStep, TimeSharedDropout
from snnkit.neurons.hard_reset import LIFNode

__all__ = ["StdsCifarNet", "StdsCifar10Params", "ReparamParams", "vote_mean", "check_image_input"]


def vote_mean(x: Tensor, n_classes: int, vote: int) -> Tensor:
    """Voting read-out: ``x [..., n_classes·vote]`` → ``[..., n_classes]``, the mean of each class's ``vote``
    consecutive neurons (the authors' ``VotingLayer``: average pooling with kernel and stride ``vote``)."""
    return x.unflatten(-1, (n_classes, vote)).mean(-1)


def check_image_input(x: Any, in_channels: int, where: str) -> None:
    """ConfigError unless ``x`` is an image batch ``[B, in_channels, H, W]`` (the networks' one input check)."""
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != in_channels:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ConfigError("x.shape", shape, f"an image batch [B, {in_channels}, H, W]", where=where)


def _dropout_p(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) < 1:
        raise ConfigError("dropout", value, "a probability in [0, 1)", where="StdsCifarNet")
    return float(value)


class StdsCifarNet(nn.Module):
    """The STDS CIFAR-10 spiking network (module docstring); defaults are the paper's.

    Args:
        channels: width C of every convolution (256).
        hidden: width of the hidden FC layer (2048).
        T: time steps (8).
        image_size: input height = width (32); a multiple of 4 (two 2×2 max-pools).
        in_channels: image channels (3).
        n_classes: classes (10).
        vote: output neurons per class, averaged by the voting layer (10).
        dropout: drop probability of the two time-shared dropouts (0.5).
        tau, threshold, v_reset, alpha: the LIF neurons' τ, V_th, hard-reset potential and the arctan
            surrogate's α (2, 1, 0, 2).
        input_norm: ``(mean, std)`` per input channel, applied to the images first (buffers), or None. The
            authors normalise CIFAR-10 after the crop and flip with (0.4914, 0.4822, 0.4465) / (0.2023,
            0.1994, 0.2010); inside the network, a trainer's augmentation of raw images keeps that order.

    ``forward(x [B, in_channels, H, W]) -> [B, n_classes]``: the voted output averaged over ``T`` (the
    authors train it with MSE against one-hot labels).
    """

    def __init__(
        self,
        channels: int = 256,
        hidden: int = 2048,
        T: int = 8,
        image_size: int = 32,
        in_channels: int = 3,
        n_classes: int = 10,
        vote: int = 10,
        dropout: float = 0.5,
        tau: float = 2.0,
        threshold: float = 1.0,
        v_reset: float = 0.0,
        alpha: float = 2.0,
        input_norm: tuple[Any, Any] | None = None,
    ):
        super().__init__()
        where = "StdsCifarNet"
        channels = check_positive_int("channels", channels, where=where)
        hidden = check_positive_int("hidden", hidden, where=where)
        self.T = check_positive_int("T", T, where=where)
        image_size = check_positive_int("image_size", image_size, where=where)
        if image_size % 4:
            raise ConfigError("image_size", image_size, "a positive multiple of 4 (two 2x2 max-pools)", where=where)
        self.in_channels = check_positive_int("in_channels", in_channels, where=where)
        self.n_classes = check_positive_int("n_classes", n_classes, where=where)
        self.vote = check_positive_int("vote", vote, where=where)
        p = _dropout_p(dropout)
        self.input_norm = input_norm is not None
        if input_norm is not None:
            mean, std = (torch.as_tensor(v, dtype=torch.float32).reshape(-1) for v in input_norm)
            if mean.numel() != self.in_channels or std.numel() != self.in_channels or not bool((std > 0).all()):
                raise ConfigError("input_norm", input_norm, f"(mean, std) with {self.in_channels} values each, "
                                  "std > 0", where=where)
            self.register_buffer("input_mean", mean.reshape(1, -1, 1, 1))
            self.register_buffer("input_std", std.reshape(1, -1, 1, 1))
        self.channels, self.hidden, self.image_size, self.dropout = channels, hidden, image_size, p

        def lif() -> LIFNode:
            return LIFNode(tau=tau, threshold=threshold, v_reset=v_reset, surrogate="atan", alpha=alpha,
                           detach_reset=True)  # LIFNode checks its own arguments

        def conv(c_in: int) -> nn.Conv2d:
            return nn.Conv2d(c_in, channels, kernel_size=3, padding=1, bias=False)

        # stem: computed once on [B, ...] (not wrapped in MultiStep)
        self.conv1 = conv(in_channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.sn1 = lif()
        self.conv2 = MultiStep(conv(channels), nn.BatchNorm2d(channels))
        self.sn2 = lif()
        self.conv3 = MultiStep(conv(channels), nn.BatchNorm2d(channels))
        self.sn3 = lif()
        self.pool3 = MultiStep(nn.MaxPool2d(2, 2))
        self.conv4 = MultiStep(conv(channels), nn.BatchNorm2d(channels))
        self.sn4 = lif()
        self.conv5 = MultiStep(conv(channels), nn.BatchNorm2d(channels))
        self.sn5 = lif()
        self.conv6 = MultiStep(conv(channels), nn.BatchNorm2d(channels))
        self.sn6 = lif()
        self.pool6 = MultiStep(nn.MaxPool2d(2, 2))
        flat = channels * (image_size // 4) ** 2
        self.dp7 = TimeSharedDropout(p)
        self.fc7 = nn.Linear(flat, hidden, bias=False)
        self.sn7 = lif()
        self.dp8 = TimeSharedDropout(p)
        self.fc8 = nn.Linear(hidden, self.n_classes * self.vote, bias=False)
        self.sn8 = lif()

    # -- what the trainers and reports read ---------------------------------------------------------------
    def prunable_layers(self) -> list[tuple[str, nn.Module]]:
        """``(name, module)`` of every convolution and FC, in forward order (all are pruned in STDS)."""
        return [(name, m) for name, m in self.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]

    def prunable_weights(self) -> list[Tensor]:
        """The prunable layers' weights as the forward pass reads them (what ``report.prunable_weights`` counts)."""
        return [m.weight for _, m in self.prunable_layers()]

    @property
    def spiking_layers(self) -> list[str]:
        """Names of the hidden LIF populations ``sn1`` … ``sn7`` (the output population ``sn8`` is the read-out)."""
        return [f"sn{i}" for i in range(1, 8)]

    # -- forward --------------------------------------------------------------------------------------------
    def output_spikes(self, x: Tensor) -> Tensor:
        """The output population's spikes ``[T, B, n_classes·vote]`` for images ``x [B, C, H, W]``."""
        check_image_input(x, self.in_channels, "StdsCifarNet")
        if self.input_norm:
            x = (x - self.input_mean) / self.input_std
        s = self.bn1(self.conv1(x))
        s = self.sn1(s.unsqueeze(0).expand(self.T, *s.shape))
        s = self.sn2(self.conv2(s))
        s = self.pool3(self.sn3(self.conv3(s)))
        s = self.sn4(self.conv4(s))
        s = self.sn5(self.conv5(s))
        s = self.pool6(self.sn6(self.conv6(s)))
        s = self.dp7(s.flatten(2))
        s = self.sn7(self.fc7(s))
        return self.sn8(self.fc8(self.dp8(s)))

    def forward(self, x: Tensor) -> Tensor:
        """Class scores ``[B, n_classes]``: voted output spikes averaged over the ``T`` steps."""
        return vote_mean(self.output_spikes(x), self.n_classes, self.vote).mean(0)


# ------------------------------------------------------------------------------------------- parameters
class ReparamParams(NotebookParams):
    """The reparameterisation parameters both STDS notebooks take (the authors' ``--sparse-function``,
    ``--flat-width``, ``--gradual``; Grad R's α and target sparsity) and their cross-field rules: ``stmod`` /
    ``st`` need D > 0; ``gradr`` needs ``alpha_gr`` and ``target_sparsity``, which only ``gradr`` takes. Not a
    notebook's schema itself: :class:`StdsCifar10Params` and
    :class:`~snnkit.models.sew_resnet.StdsImagenetParams` extend it.
    """

    sparse_function: Literal["identity", "stmod", "st", "gradr"] = Field(
        "identity", description="weight reparameterisation: identity (dense), stmod (STDS: soft threshold, "
        "straight-through gradient), st (soft threshold, true gradient), gradr (Grad R)")
    flat_width: float = Field(1.0, ge=0.0, description="D, the flat width of stmod / st (its end value with "
                              "a schedule); not used by identity and gradr")
    gradual: Literal["sine", "linear", "none"] = Field(
        "none", description="schedule of D over the training iterations: sine, linear, or none (constant D)")
    alpha_gr: float | None = Field(None, gt=0.0, description="Grad R: α of the Laplace prior (the paper: 1e-3)")
    target_sparsity: float | None = Field(None, gt=0.0, lt=1.0, description="Grad R: the sparsity the prior's "
                                          "centre μ_c = ln(2(1 − s))/α aims at")

    @model_validator(mode="after")
    def _reparam_rules(self, info: ValidationInfo) -> ReparamParams:
        if (info.context or {}).get("partial"):
            return self
        where = type(self).__name__
        if self.sparse_function in ("stmod", "st") and self.flat_width <= 0:
            raise ConfigError("flat_width", self.flat_width, f"> 0 for sparse_function={self.sparse_function!r}",
                              where=where)
        if self.sparse_function == "gradr":
            if self.alpha_gr is None:
                raise ConfigError("alpha_gr", None, "a positive number for sparse_function='gradr' (the paper: "
                                  "1e-3)", where=where)
            if self.target_sparsity is None:
                raise ConfigError("target_sparsity", None, "a number in (0, 1) for sparse_function='gradr'",
                                  where=where)
        else:
            for key in ("alpha_gr", "target_sparsity"):
                if getattr(self, key) is not None:
                    raise ConfigError(key, getattr(self, key), "None unless sparse_function='gradr'", where=where)
        return self


@register("stds_cifar10")
class StdsCifar10Params(ReparamParams):
    """Parameters of ``notebooks/stds_cifar10.ipynb``: the STDS authors' ``CIFAR10/train.py`` arguments.

    Defaults are the authors' (seed 2020, batch 16, Adam 1e-4, T = 8, 2048 epochs, MSE on one-hot labels,
    crop + flip, the dense ``identity`` function, flat width 1.0 without a schedule) with ``amp`` on, as all
    their commands give ``--amp``. ``gradr`` is Grad R (Chen et al., IJCAI 2021) as its paper defines it
    (fixed signs, Laplace-prior step towards the target sparsity), not the STDS repository's own variant.
    """

    seed: int = Field(2020, ge=0, le=2**32 - 1, description="seeds Python, NumPy, torch, data order, "
                      "augmentation and dropout")
    dataset: Literal["cifar10", "cifar10-standin", "cifar10-standin-full"] = Field(
        "cifar10", description="CIFAR-10, its small learnable stand-in (embedded Fashion-MNIST images), or the "
        "full-size stand-in (50,000 / 10,000 coloured Fashion-MNIST images; needs Fashion-MNIST)")
    T: int = Field(8, ge=1, le=4096, description="time steps")
    epochs: int = Field(2048, ge=1, le=100000, description="training epochs")
    batch_size: int = Field(16, ge=1, le=65536, description="mini-batch size")
    lr: float = Field(1e-4, gt=0.0, description="Adam learning rate")
    cos_lr_T: int | None = Field(None, ge=1, description="cosine annealing of the learning rate over this many "
                                 "epochs (the authors' ImageNet option); None: constant")
    amp: bool = Field(True, description="mixed precision (float16 on CUDA, bfloat16 on the CPU)")
    augment: bool = Field(True, description="random crop (padding 4) and horizontal flip of training images")
    channels: int = Field(256, ge=1, le=4096, description="width of every convolution")
    hidden: int = Field(2048, ge=1, le=65536, description="width of the hidden fully connected layer")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="drop probability of the two time-shared dropouts")
    train_subset: int | None = Field(None, ge=1, description="use at most this many training images "
                                     "(class-stratified)")
    test_subset: int | None = Field(None, ge=1, description="use at most this many test images")

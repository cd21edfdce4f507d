"""Spike-Element-Wise ResNet (Fang, Yu, Chen, Huang, Masquelier & Tian, "Deep Residual Learning in Spiking
Neural Networks", NeurIPS 2021): the ImageNet network of STDS (Chen et al., ICML 2022; papers/stds.md).

A SEW residual block ends in a spiking neuron on *each* branch and joins the two spike tensors with an
element-wise connect function g(A, S), A the residual branch's output spikes and S the shortcut's
(SEW paper, Table 1):

* ``ADD``:  g = A + S          (the output may be 2: it is not binary, and identity mapping is exact);
* ``AND``:  g = A ∧ S = A·S;
* ``IAND``: g = (¬A) ∧ S = (1 − A)·S.

Architecture (torchvision's ResNet layout with a neuron after every BatchNorm; ``width`` = 64 is the paper's):

* stem: conv 7×7 stride 2 (3 → width, no bias) + BatchNorm computed **once** on ``[B, ...]`` and repeated over
  the ``T`` steps, neuron, max-pool 3×3 stride 2;
* four stages of ``width``·(1, 2, 4, 8) planes, stride 1, 2, 2, 2: BasicBlocks (two conv 3×3 + BN + neuron)
  for depths 18 / 34 with [2, 2, 2, 2] / [3, 4, 6, 3] blocks, Bottlenecks (conv 1×1, 3×3, 1×1 ×4, each + BN +
  neuron) for 50 / 101 / 152 with [3, 4, 6, 3] / [3, 4, 23, 3] / [3, 8, 36, 3];
* where a block changes shape, the shortcut is conv 1×1 (stride) + BN + neuron (spikes, so g sees spikes);
* global average pool, the mean over ``T``, then the final FC (with bias) — this FC is not pruned.

Neurons are IF by default (the SEW and STDS ImageNet runs; SpikingJelly's ``MultiStepIFNode`` with V_th = 1,
hard reset to 0, detached reset, arctan α = 2) or LIF with τ = 2. No neuron has parameters, so a SEW-ResNet
holds exactly the weights of the torchvision ResNet of the same depth (11,689,512 for 18 with 1000 classes).
Initialisation as the SEW code (and torchvision): Kaiming-normal (fan-out) convolutions, BatchNorm 1 / 0.
``zero_init_residual`` (the SEW code's option, off by default as in the STDS runs) makes every block an identity
map at the start: the last BatchNorm of each residual branch gets weight 0, so the branch's last neuron sees a
constant drive — 0 (A = 0: ADD and IAND pass S through) or, for AND, the drive that fires at every step
(A = 1: V_th for IF, as the SEW code's bias 1; τ·V_th for LIF, whose first charge is X/τ).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field
from torch import Tensor, nn

from snnkit.config import NO_RESULT_EFFECT, register
from snnkit.errors import ConfigError, check_positive_int
from snnkit.models.multistep import MultiStep
from snnkit.models.stds import ReparamParams, check_image_input
from snnkit.neurons.hard_reset import IFNode, LIFNode

__all__ = ["SEWResNet", "sew_resnet", "connect", "CONNECTS", "NEURONS", "DEPTHS", "BasicBlock", "Bottleneck",
           "StdsImagenetParams"]


def _add(a: Tensor, s: Tensor) -> Tensor:
    return a + s


def _and(a: Tensor, s: Tensor) -> Tensor:
    return a * s


def _iand(a: Tensor, s: Tensor) -> Tensor:
    return (1.0 - a) * s


#: connect function name → g(A, S) with A = the residual branch's spikes, S = the shortcut's.
CONNECTS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"ADD": _add, "AND": _and, "IAND": _iand}


def connect(name: str, a: Tensor, s: Tensor) -> Tensor:
    """g(A, S) of the SEW paper's Table 1 (``name`` one of :data:`CONNECTS`, unchecked): A the residual
    branch's output spikes, S the shortcut's."""
    return CONNECTS[name](a, s)


def _if_node() -> nn.Module:
    return IFNode(threshold=1.0, v_reset=0.0, surrogate="atan", alpha=2.0, detach_reset=True)


def _lif_node() -> nn.Module:
    return LIFNode(tau=2.0, threshold=1.0, v_reset=0.0, surrogate="atan", alpha=2.0, detach_reset=True)


#: neuron name → constructor of one multi-step population.
NEURONS: dict[str, Callable[[], nn.Module]] = {"if": _if_node, "lif": _lif_node}


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> MultiStep:
    return MultiStep(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
                     nn.BatchNorm2d(c_out))


class _SEWBlock(nn.Module):
    """A SEW residual block on ``[T, B, C, H, W]``: the branch ``conv1 + BN → sn1 → conv2 + BN → sn2 …`` joined
    with the shortcut (the input, or ``downsample`` of it) by the connect function g(A, S)."""

    expansion = 1

    def __init__(self, convs: list[MultiStep], downsample: nn.Module | None, connect_f: str,
                 neuron: Callable[[], nn.Module]):
        super().__init__()
        self.connect_f = connect_f
        self.n_layers = len(convs)
        for i, conv in enumerate(convs, start=1):
            self.add_module(f"conv{i}", conv)
            self.add_module(f"sn{i}", neuron())
        self.downsample = downsample

    def last(self) -> tuple[nn.BatchNorm2d, nn.Module]:
        """The residual branch's last BatchNorm and neuron."""
        return getattr(self, f"conv{self.n_layers}")[1], getattr(self, f"sn{self.n_layers}")

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for i in range(1, self.n_layers + 1):
            out = getattr(self, f"sn{i}")(getattr(self, f"conv{i}")(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return connect(self.connect_f, out, shortcut)


class BasicBlock(_SEWBlock):
    """SEW BasicBlock: conv 3×3 (stride) and conv 3×3, each + BN + neuron, joined with the shortcut by g."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int, downsample: nn.Module | None, connect_f: str,
                 neuron: Callable[[], nn.Module]):
        super().__init__([_conv_bn(c_in, planes, 3, stride), _conv_bn(planes, planes, 3)], downsample, connect_f,
                         neuron)


class Bottleneck(_SEWBlock):
    """SEW Bottleneck: conv 1×1, 3×3 (stride), 1×1 (×4 planes), each + BN + neuron, joined with the shortcut by g."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int, downsample: nn.Module | None, connect_f: str,
                 neuron: Callable[[], nn.Module]):
        convs = [_conv_bn(c_in, planes, 1), _conv_bn(planes, planes, 3, stride), _conv_bn(planes, planes * 4, 1)]
        super().__init__(convs, downsample, connect_f, neuron)


#: depth → (block, blocks per stage), the ResNet layouts of He et al. (CVPR 2016), Table 1.
DEPTHS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class SEWResNet(nn.Module):
    """SEW-ResNet (module docstring). ``forward(x [B, in_channels, H, W]) -> [B, n_classes]`` logits.

    Args:
        depth: 18, 34, 50, 101 or 152.
        connect: ``"ADD"`` (default), ``"AND"`` or ``"IAND"`` (case-insensitive).
        neuron: ``"if"`` (default) or ``"lif"`` (case-insensitive).
        T: time steps (4).
        n_classes: outputs of the final FC (1000).
        width: planes of the stem and the first stage (64); later stages 2×, 4×, 8×.
        in_channels: image channels (3).
        zero_init_residual: start every block as an identity map (module docstring; False).
    """

    def __init__(self, depth: int = 18, connect: str = "ADD", neuron: str = "if", T: int = 4,
                 n_classes: int = 1000, width: int = 64, in_channels: int = 3, zero_init_residual: bool = False):
        super().__init__()
        where = "SEWResNet"
        if isinstance(depth, bool) or depth not in DEPTHS:
            raise ConfigError("depth", depth, f"one of {sorted(DEPTHS)}", where=where)
        if not isinstance(connect, str) or connect.upper() not in CONNECTS:
            raise ConfigError("connect", connect, f"one of {list(CONNECTS)}", where=where)
        if not isinstance(neuron, str) or neuron.lower() not in NEURONS:
            raise ConfigError("neuron", neuron, f"one of {list(NEURONS)}", where=where)
        self.T = check_positive_int("T", T, where=where)
        self.n_classes = check_positive_int("n_classes", n_classes, where=where)
        width = check_positive_int("width", width, where=where)
        self.in_channels = check_positive_int("in_channels", in_channels, where=where)
        if not isinstance(zero_init_residual, bool):
            raise ConfigError("zero_init_residual", zero_init_residual, "True or False", where=where)
        self.depth, self.connect_f, self.neuron, self.width = int(depth), connect.upper(), neuron.lower(), width
        make_neuron = NEURONS[self.neuron]
        block, counts = DEPTHS[self.depth]

        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.sn1 = make_neuron()
        self.maxpool = MultiStep(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        c_in = width
        for i, n_blocks in enumerate(counts):
            planes, stride = width * 2**i, (1 if i == 0 else 2)
            blocks = []
            for j in range(n_blocks):
                c_out = planes * block.expansion
                downsample = None
                if j == 0 and (stride != 1 or c_in != c_out):
                    downsample = nn.Sequential(_conv_bn(c_in, c_out, 1, stride), make_neuron())
                blocks.append(block(c_in, planes, stride if j == 0 else 1, downsample, self.connect_f, make_neuron))
                c_in = c_out
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = MultiStep(nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(c_in, self.n_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            self._zero_init_residual()

    def _zero_init_residual(self) -> None:
        for m in self.modules():
            if isinstance(m, _SEWBlock):
                bn, sn = m.last()
                nn.init.zeros_(bn.weight)
                if self.connect_f == "AND":  # drive that fires at the first step, hence at every step
                    nn.init.constant_(bn.bias, sn.threshold * getattr(sn, "tau", 1.0))

    def prunable_layers(self) -> list[tuple[str, nn.Module]]:
        """``(name, module)`` of every convolution (stem, blocks, shortcuts); the final FC is not pruned."""
        return [(name, m) for name, m in self.named_modules() if isinstance(m, nn.Conv2d)]

    def prunable_weights(self) -> list[Tensor]:
        """The prunable layers' weights as the forward pass reads them (what ``report.prunable_weights`` counts)."""
        return [m.weight for _, m in self.prunable_layers()]

    @property
    def spiking_layers(self) -> list[str]:
        """Names of every spiking population (stem, blocks, shortcuts), in forward order."""
        return [name for name, m in self.named_modules() if isinstance(m, (IFNode, LIFNode))]

    def features(self, x: Tensor) -> Tensor:
        """The pooled last-stage output ``[T, B, width·8·expansion]`` for images ``x [B, C, H, W]``."""
        check_image_input(x, self.in_channels, "SEWResNet")
        s = self.bn1(self.conv1(x))
        s = self.maxpool(self.sn1(s.unsqueeze(0).expand(self.T, *s.shape)))
        s = self.layer4(self.layer3(self.layer2(self.layer1(s))))
        return self.avgpool(s).flatten(2)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, n_classes]``: the final FC on the time-mean of the pooled features."""
        return self.fc(self.features(x).mean(0))


def sew_resnet(depth: int, connect: str = "ADD", neuron: str = "if", T: int = 4, n_classes: int = 1000,
               width: int = 64, *, zero_init_residual: bool = False) -> SEWResNet:
    """A SEW-ResNet of ``depth`` (18, 34, 50, 101, 152) with connect function ``connect`` (ADD, AND, IAND) and
    ``neuron`` (if, lif); bad values raise :class:`~snnkit.errors.ConfigError`."""
    return SEWResNet(depth, connect=connect, neuron=neuron, T=T, n_classes=n_classes, width=width,
                     zero_init_residual=zero_init_residual)


@register("stds_imagenet")
class StdsImagenetParams(ReparamParams):
    """Parameters of ``notebooks/stds_imagenet.ipynb``: the STDS authors' ``ImageNet/train.py`` arguments
    (Chen et al., ICML 2022; the SEW-ResNet set-up of Fang et al., NeurIPS 2021).

    Defaults are the seed README's ImageNet commands: SEW-ResNet18, connect ADD, IF neurons, T = 4, SGD lr 0.1
    momentum 0.9, cosine annealing over 320 epochs, 320 epochs, AMP, the dense ``identity`` function; seed
    2020 and weight decay 0 are ``train.py``'s own defaults (the commands give no ``--wd``). The seed ran
    8 processes × 32 images; ``batch_size`` here is the GLOBAL batch (split over ``nproc`` processes), so the
    paper's setting is 256 — the default 32 is what one process of the seed saw. ``gradr`` is Grad R as its
    IJCAI 2021 paper defines it (fixed signs, Laplace-prior step towards ``target_sparsity``).
    """

    seed: int = Field(2020, ge=0, le=2**32 - 1, description="seeds Python, NumPy, torch, data order and "
                      "augmentation")
    dataset: Literal["imagenet", "imagenet-standin"] = Field(
        "imagenet", description="ImageNet (ILSVRC-2012, ImageFolder layout; no download) or its tiny stand-in "
        "(10 classes of coloured Fashion-MNIST JPEGs in the same layout)")
    model: Literal["sew_resnet18", "sew_resnet34", "sew_resnet50"] = Field(
        "sew_resnet18", description="the SEW-ResNet depth")
    connect_f: Literal["ADD", "AND", "IAND"] = Field("ADD", description="SEW connect function of the blocks")
    neuron: Literal["if", "lif"] = Field("if", description="spiking neuron: IF (the paper) or LIF (τ = 2)")
    width: int = Field(64, ge=1, le=4096, description="planes of the stem and first stage (64: the paper)")
    T: int = Field(4, ge=1, le=4096, description="time steps")
    epochs: int = Field(320, ge=1, le=100000, description="training epochs")
    batch_size: int = Field(32, ge=1, le=65536, description="GLOBAL mini-batch size, split over the nproc "
                            "processes (the seed: 32 per GPU × 8 GPUs = 256)")
    lr: float = Field(0.1, gt=0.0, description="SGD learning rate")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum")
    weight_decay: float = Field(0.0, ge=0.0, description="SGD weight decay (train.py's default 0)")
    cos_lr_T: int | None = Field(320, ge=1, description="cosine annealing of the learning rate over this many "
                                 "epochs; None: constant")
    amp: bool = Field(True, description="mixed precision (float16 on CUDA, bfloat16 on the CPU)")
    crop_size: int = Field(224, ge=8, le=1024, description="training crop / evaluation centre crop (224: "
                           "ImageNet; the evaluation resize is crop·256/224)")
    train_subset: int | None = Field(None, ge=1, description="use at most this many training images "
                                     "(class-stratified)")
    test_subset: int | None = Field(None, ge=1, description="use at most this many validation images")
    nproc: int = Field(1, ge=1, le=1024, description="training processes on this machine "
                       "(snnkit.train.distributed.run_parallel; one per GPU)")
    threads: int | None = Field(None, ge=1, le=1024, description="torch CPU threads (None: as set by the "
                                "environment; 1 makes the tiny smoke networks many times faster on a busy CPU)",
                                json_schema_extra=NO_RESULT_EFFECT)

"""CIFAR ResNet (He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, §4.2)
as the frozen feature extractor of G2GNet's CIFAR runs (``use_resnet``; papers/g2gnet.md).

Architecture (He et al. §4.2): a 3×3 conv with 16 filters, then 3 stages of ``n`` basic blocks
(two 3×3 convs with BatchNorm, identity shortcut) with 16, 32 and 64 filters on 32×32, 16×16 and
8×8 maps (the first conv of stages 2 and 3 has stride 2), global average pooling and a linear
classifier: ``6n + 2`` layers, ResNet-32 for ``n = 5``. Where a shortcut changes the shape it is

* option ``"A"`` (the paper's CIFAR choice): parameter-free — the input subsampled with stride 2 and
  zero channels padded on both sides (``(c_out - c_in) / 2`` before and after, the placement the
  akamaster weights were trained with);
* option ``"B"``: a 1×1 conv (stride 2) + BatchNorm projection.

State-dict keys (what :func:`load_resnet_weights` reads; a ``module.`` prefix is stripped):

* layout A — Idelbayev's pytorch_resnet_cifar10 ("akamaster"): ``conv1.weight``, ``bn1.*``,
  ``layer{1,2,3}.{i}.{conv1,bn1,conv2,bn2}.*``, head ``linear.*``;
* layout B — chenyaofo's pytorch-cifar-models (the torch.hub ``cifar10_resnet32`` /
  ``cifar100_resnet32``): the same names plus ``layer{2,3}.0.downsample.{0,1}.*`` (the projection
  conv and its BatchNorm), head ``fc.*``. ``shortcut.{0,1}`` (another common spelling of the
  projection) is read as ``downsample``; either head name is accepted in either layout.

G2GNet uses the network up to stage 2 (:class:`ResNetFeatures`): 32 maps of 16×16 pooled to 4×4 →
512 features, min-max scaled per sample to [0, 1] for rate coding. The input is normalised with the
statistics the backbone was trained with — the original code fed raw [0, 1] pixels to a backbone
trained on normalised images. :func:`extract_features` runs it once over a dataset and caches the
result; :func:`pretrain_resnet` trains a backbone for users without weights.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from snnkit.data.registry import CONTRACT, LabelledDataset
from snnkit.errors import CheckpointError, ConfigError, check_positive_int
from snnkit.utils import atomic_write, params_hash, resolve_device

log = logging.getLogger(__name__)

__all__ = [
    "AKAMASTER_MEAN",
    "AKAMASTER_STD",
    "CIFAR_MEAN",
    "CIFAR_STD",
    "LAYOUT_B_STATS",
    "FeatureDataset",
    "ResNetCIFAR",
    "ResNetFeatures",
    "extract_features",
    "feature_cache_key",
    "load_resnet_weights",
    "pretrain_resnet",
    "resnet_extractor",
    "weights_digest",
]

#: Per-channel mean and standard deviation of the pixel values (scaled to [0, 1]) of the 50 000
#: CIFAR-10 training images (Krizhevsky 2009), over all pixels of all images — the usual values,
#: e.g. in timm's and torchvision's CIFAR recipes. (The also common std (0.2023, 0.1994, 0.2010) is the
#: mean of per-image stds, not the pixel std.)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)

#: What layout-B weights of chenyaofo/pytorch-cifar-models (the torch.hub CIFAR ResNets, 1×1-conv
#: shortcuts) were trained on, per dataset (its training logs): CIFAR-10 normalised with the per-image std
#: variant, CIFAR-100 with CIFAR-100's own statistics. :func:`load_resnet_weights` picks them by the head's
#: size (10 or 100 classes); other heads get :data:`CIFAR_MEAN`/``STD``.
LAYOUT_B_STATS = {
    10: ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    100: ((0.5070, 0.4865, 0.4409), (0.2673, 0.2564, 0.2761)),
}

#: What the akamaster (layout A) weights were trained on: its ``trainer.py`` normalises CIFAR-10 with
#: ImageNet's channel statistics. :func:`load_resnet_weights` sets them for a layout-A file.
AKAMASTER_MEAN = (0.485, 0.456, 0.406)
AKAMASTER_STD = (0.229, 0.224, 0.225)

SHORTCUTS = ("A", "B")
STAGE_CHANNELS = (16, 32, 64)
_HEAD = {"A": "linear", "B": "fc"}


def _check_stats(key: str, value: Any, *, positive: bool) -> tuple[float, float, float]:
    try:
        stats = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        stats = ()
    if len(stats) != 3 or not all(math.isfinite(v) and (v > 0 or not positive) for v in stats):
        raise ConfigError(key, value, "3 finite per-channel (R, G, B) numbers" + (", all > 0" if positive else ""))
    return stats  # type: ignore[return-value]


class _BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)) — He et al. 2016, Fig. 2."""

    def __init__(self, c_in: int, c_out: int, stride: int, shortcut: str):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.pad = stride, c_out - c_in
        reshape = stride != 1 or c_in != c_out
        self.downsample = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if reshape and shortcut == "B" else None
        )

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.downsample is not None:
            return self.downsample(x)
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetCIFAR(nn.Module):
    """The CIFAR ResNet of He et al. 2016 §4.2 (see the module docstring), ``depth = 6n + 2``.

    ``forward(x)`` takes images in [0, 1] ``[B, 3, H, W]``, normalises them with ``mean``/``std``
    (non-persistent buffers: not in the state dict; :meth:`set_normalisation` changes them) and
    returns logits ``[B, num_classes]``. :meth:`trunk` runs the normalised input up to a stage.
    The head is ``self.linear`` (shortcut A) or ``self.fc`` (shortcut B), as in the weight files;
    :attr:`head` is either.
    """

    def __init__(
        self,
        depth: int = 32,
        num_classes: int = 10,
        shortcut: str = "A",
        *,
        mean: Sequence[float] = CIFAR_MEAN,
        std: Sequence[float] = CIFAR_STD,
    ):
        super().__init__()
        check_positive_int("depth", depth, where="ResNetCIFAR")
        if depth < 8 or (depth - 2) % 6:
            raise ConfigError("depth", depth, "6n + 2 with n >= 1 (20, 32, 44, 56, 110, ...)", where="ResNetCIFAR")
        check_positive_int("num_classes", num_classes, where="ResNetCIFAR")
        if shortcut not in SHORTCUTS:
            raise ConfigError("shortcut", shortcut, f"one of {SHORTCUTS}", where="ResNetCIFAR")
        self.depth, self.num_classes, self.shortcut = depth, num_classes, shortcut
        self.blocks_per_stage = n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, STAGE_CHANNELS[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_CHANNELS[0])
        c_in = STAGE_CHANNELS[0]
        for s, c_out in enumerate(STAGE_CHANNELS):
            blocks = [_BasicBlock(c_in if i == 0 else c_out, c_out, 2 if (s and i == 0) else 1, shortcut)
                      for i in range(n)]
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
            c_in = c_out
        setattr(self, _HEAD[shortcut], nn.Linear(STAGE_CHANNELS[-1], num_classes))
        for m in self.modules():  # He et al. 2015 ("Delving deep into rectifiers") init, as §4.2 says
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        self.register_buffer("mean", torch.zeros(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.ones(1, 3, 1, 1), persistent=False)
        self.set_normalisation(mean, std)

    @property
    def head(self) -> nn.Linear:
        return getattr(self, _HEAD[self.shortcut])

    def set_normalisation(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Set the per-channel input statistics (3 numbers each; ``std`` > 0)."""
        m, s = _check_stats("mean", mean, positive=False), _check_stats("std", std, positive=True)
        self.mean.copy_(torch.tensor(m).view(1, 3, 1, 1))
        self.std.copy_(torch.tensor(s).view(1, 3, 1, 1))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def trunk(self, x: torch.Tensor, stage: int = 3) -> torch.Tensor:
        """Feature maps after stage ``stage`` (1..3) of the already normalised input ``x``."""
        x = F.relu(self.bn1(self.conv1(x)))
        for s in range(1, stage + 1):
            x = getattr(self, f"layer{s}")(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(self.normalise(x)).mean(dim=(2, 3)))


# ------------------------------------------------------------------------------------------ loading
def _read_state_dict(path: Path) -> dict[str, Any]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle, disallowed objects: all say "bad file"
        raise CheckpointError(
            f"{path}: cannot be read as ResNet weights with torch.load(weights_only=True) "
            f"(truncated, corrupted or not a state dict?): {type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path}: holds {type(obj).__name__}, not a state dict (or {{'state_dict': ...}})")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def _shape(value: Any) -> tuple[int, ...] | str:
    return tuple(value.shape) if torch.is_tensor(value) else type(value).__name__


def _detect(state: dict[str, Any], path: Path) -> tuple[str, int, dict[str, str]]:
    """(layout, depth, {model key: file key}) of a prefix-free state dict."""
    layout = "B" if any(re.search(r"\.(downsample|shortcut)\.", k) for k in state) else "A"
    blocks = [int(m.group(1)) for k in state if (m := re.match(r"layer1\.(\d+)\.", k))]
    if not blocks:
        raise CheckpointError(f"{path}: no 'layer1.<i>.' keys — not a CIFAR ResNet state dict "
                              f"(first keys: {sorted(state)[:5]})")
    head = _HEAD[layout]
    names = {}
    for k in state:
        new = re.sub(r"\.shortcut\.", ".downsample.", k)
        new = re.sub(r"^(fc|linear)\.", head + ".", new)
        names[new] = k
    return layout, 6 * (max(blocks) + 1) + 2, names


def load_resnet_weights(
    path: str | os.PathLike,
    *,
    num_classes: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> ResNetCIFAR:
    """Build a :class:`ResNetCIFAR` from the weights in ``path`` (the ``resnet_weights`` parameter).

    Reads a bare state dict or ``{"state_dict": ...}`` with ``torch.load(weights_only=True)``, strips a
    ``module.`` prefix, detects the layout (A: no projection keys; B: ``downsample``/``shortcut``
    keys; see the module docstring), the depth (blocks in ``layer1``) and the number of classes (the
    head's rows; ``num_classes``, if given, must agree), and logs what it found. The load is strict:
    every missing key, unexpected key and shape mismatch is named in one :class:`CheckpointError`
    (``num_batches_tracked``, absent from older files, may be missing). Input statistics: ``mean``/``std``
    if given, else :data:`AKAMASTER_MEAN`/``STD`` for layout A (what those weights were trained on) and
    :data:`LAYOUT_B_STATS` by the head's size for layout B (:data:`CIFAR_MEAN`/``STD`` for another
    head). A path that does not exist is a ConfigError (a relative one names the folder it was read from).
    """
    if not isinstance(path, str | os.PathLike) or not Path(path).is_file():
        relative = isinstance(path, str | os.PathLike) and not Path(path).is_absolute()
        where = f" (a relative path is read from {Path.cwd()}: notebooks run in notebooks/; give an absolute path)" \
            if relative else ""
        raise ConfigError("resnet_weights", str(path) if isinstance(path, os.PathLike) else path,
                          "the path of an existing ResNet-32 state-dict file (.th/.pt/.pth)" + where)
    path = Path(path)
    state = _read_state_dict(path)
    layout, depth, names = _detect(state, path)
    head = state.get(names.get(f"{_HEAD[layout]}.weight", ""))
    file_classes = int(head.shape[0]) if torch.is_tensor(head) and head.ndim == 2 else None
    if num_classes is not None and file_classes is not None and num_classes != file_classes:
        raise CheckpointError(f"{path}: the head has {file_classes} classes, num_classes={num_classes} was asked")
    if layout == "A":
        default_mean, default_std = AKAMASTER_MEAN, AKAMASTER_STD
    else:
        default_mean, default_std = LAYOUT_B_STATS.get(num_classes or file_classes or 0, (CIFAR_MEAN, CIFAR_STD))
    model = ResNetCIFAR(depth, num_classes or file_classes or 10, layout,
                        mean=default_mean if mean is None else mean, std=default_std if std is None else std)
    own = model.state_dict()
    missing = [k for k in own if k not in names and not k.endswith("num_batches_tracked")]
    unexpected = [names[k] for k in names if k not in own]
    mismatched = [f"{names[k]}: file {_shape(state[names[k]])} vs model {tuple(own[k].shape)}"
                  for k in names if k in own and _shape(state[names[k]]) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        raise CheckpointError(
            f"{path}: does not fit a CIFAR ResNet-{depth} (layout {layout}, {model.num_classes} classes): "
            f"missing keys {missing}; unexpected keys {unexpected}; shape mismatches {mismatched}"
        )
    model.load_state_dict({k: state[names[k]] if k in names else v for k, v in own.items()}, strict=True)
    log.info("resnet_weights %s: layout %s (%s shortcuts), ResNet-%d, %d classes, input mean %s std %s",
             path, layout, "zero-pad" if layout == "A" else "1x1-conv projection", depth, model.num_classes,
             tuple(model.mean.flatten().tolist()), tuple(model.std.flatten().tolist()))
    return model


# -------------------------------------------------------------------------------- feature extractor
class ResNetFeatures(nn.Module):
    """The frozen front of a :class:`ResNetCIFAR`: G2GNet's ``use_resnet`` features (papers/g2gnet.md).

    ``forward(images)`` with images in [0, 1] ``[B, 3, 32, 32]``: normalise with ``mean``/``std``
    (default: the backbone's own statistics, see :func:`load_resnet_weights`), conv1/bn1/relu and
    stages 1..``stage``, adaptive average pooling to ``pool × pool``, flatten → ``[B, out_features]``
    (``32 · 4 · 4 = 512`` for the defaults), then min-max scaling of every sample to [0, 1] (a constant
    sample becomes zeros). The backbone's parameters are frozen (``requires_grad=False``) and it stays
    in eval mode (BatchNorm uses its running statistics) even when a parent calls ``.train()``.
    """

    def __init__(
        self,
        backbone: ResNetCIFAR,
        *,
        stage: int = 2,
        pool: int = 4,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ):
        super().__init__()
        if not isinstance(backbone, ResNetCIFAR):
            raise ConfigError("backbone", type(backbone).__name__, "a ResNetCIFAR (e.g. from load_resnet_weights)")
        if isinstance(stage, bool) or stage not in (1, 2, 3):
            raise ConfigError("stage", stage, "1, 2 or 3 (the last ResNet stage kept)", where="ResNetFeatures")
        check_positive_int("pool", pool, where="ResNetFeatures")
        size = 32 >> (stage - 1)
        if pool > size:
            raise ConfigError("pool", pool, f"at most {size} (the {size}×{size} maps of stage {stage})",
                              where="ResNetFeatures")
        self.backbone, self.stage, self.pool = backbone, stage, pool
        self.out_features = STAGE_CHANNELS[stage - 1] * pool * pool
        mean = backbone.mean.flatten().tolist() if mean is None else _check_stats("mean", mean, positive=False)
        std = backbone.std.flatten().tolist() if std is None else _check_stats("std", std, positive=True)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        backbone.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> ResNetFeatures:
        super().train(mode)
        self.backbone.eval()
        return self

    def settings(self) -> dict[str, Any]:
        """What, besides the weights, decides the features (part of :func:`feature_cache_key`)."""
        return {"depth": self.backbone.depth, "stage": self.stage, "pool": self.pool,
                "mean": [round(v, 6) for v in self.mean.flatten().tolist()],
                "std": [round(v, 6) for v in self.std.flatten().tolist()]}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.backbone.trunk((images - self.mean) / self.std, self.stage)
        f = F.adaptive_avg_pool2d(maps, self.pool).flatten(1)
        lo = f.amin(dim=1, keepdim=True)
        span = f.amax(dim=1, keepdim=True) - lo
        return (f - lo) / torch.where(span > 0, span, torch.ones_like(span))


class FeatureDataset(LabelledDataset):
    """Precomputed features ``[N, D]`` float32 and labels, with the data contract of its source dataset
    (``name``, ``stand_in``, ``classes``, ``origin``, ``targets``; ``source`` says what was extracted);
    ``subset`` keeps the type, so ``cross_validate`` and ``stratified_subset`` work on it."""

    def __init__(self, features: torch.Tensor, targets: torch.Tensor, classes: Sequence[str], name: str, **meta: Any):
        super().__init__(targets, classes, name, **meta)
        if features.ndim != 2 or features.shape[0] != len(self.targets):
            raise ConfigError("features", tuple(features.shape), f"a [N, D] tensor with N = {len(self.targets)}")
        self.features = features.to(torch.float32)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index], self.targets[index]

    def _take(self, idx: torch.Tensor) -> torch.Tensor:
        return self.features[idx]

    def __repr__(self) -> str:
        return f"FeatureDataset({self.name!r}, n={len(self)}, features={self.features.shape[1]})"


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of a module's state dict (names, dtypes, shapes and bytes, in order): identifies the
    weights of a loaded or pre-trained backbone for :func:`feature_cache_key`."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def feature_cache_key(dataset: Dataset, weights_digest: str, **settings: Any) -> str:
    """File stem under which :func:`extract_features` caches the features of ``dataset``:
    ``<name>-<16 hex>``, a hash of the dataset's origin checksums, its ``source`` (the split and any
    subset/fold notes; its folder left out so that moving the data keeps the key), its size and labels,
    the ``weights_digest`` and the extractor ``settings`` (e.g. ``ResNetFeatures.settings()``)."""
    origin = getattr(dataset, "origin", None) or {}
    source = str(getattr(dataset, "source", ""))
    if origin.get("dir"):
        source = source.replace(str(origin["dir"]), "<dir>")
    labels = torch.as_tensor(getattr(dataset, "targets", [])).to(torch.int64).numpy()
    digest = params_hash({
        "name": getattr(dataset, "name", ""), "files": origin.get("files", {}), "source": source,
        "n": len(dataset), "targets": hashlib.sha256(np.ascontiguousarray(labels).tobytes()).hexdigest(),
        "weights": weights_digest, "settings": settings,
    })
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(getattr(dataset, "name", "dataset")))
    return f"{name}-{digest}"


def _load_cached(path: Path, dataset: Dataset, targets: torch.Tensor) -> torch.Tensor | None:
    try:
        cached = torch.load(path, map_location="cpu", weights_only=True)
        features = cached["features"]
        if not torch.equal(cached["targets"], targets) or features.ndim != 2:
            raise ValueError("labels or shape differ from the dataset's")
    except Exception as exc:  # a cache is never worth failing a run for: recompute it
        log.warning("feature cache %s is unusable (%s); extracting again", path, exc)
        return None
    log.info("features of %s (%d samples) read from the cache %s", getattr(dataset, "name", "?"), len(dataset), path)
    return features


def extract_features(
    extractor: ResNetFeatures,
    dataset: Dataset,
    *,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
    cache_dir: str | os.PathLike | None = None,
    cache_key: str | None = None,
) -> FeatureDataset:
    """Run the frozen ``extractor`` once over ``dataset`` (samples ``(image, label)``; no gradients,
    eval mode) and return a :class:`FeatureDataset` of ``(features float32 [out_features], label)``.

    With ``cache_dir`` the features are stored (atomically) as ``<cache_dir>/<cache_key>.pt`` and read
    back by later calls instead of running the extractor — e.g. every run of a sweep over the same data.
    ``cache_key`` defaults to :func:`feature_cache_key` of the dataset, the extractor's weights and its
    settings. An unreadable or mismatched cache file is logged and rebuilt.
    """
    if not isinstance(extractor, ResNetFeatures):
        raise ConfigError("extractor", type(extractor).__name__, "a ResNetFeatures")
    check_positive_int("batch_size", batch_size, where="extract_features")
    missing = [a for a in (*CONTRACT, "targets") if not hasattr(dataset, a)]
    if missing:
        raise ConfigError("dataset", type(dataset).__name__, f"an snnkit dataset (it lacks {missing})")
    targets = torch.as_tensor(dataset.targets).to(torch.int64)
    path = None
    if cache_dir is not None:
        key = cache_key or feature_cache_key(dataset, weights_digest(extractor.backbone), **extractor.settings())
        path = Path(cache_dir) / f"{key}.pt"
    features = _load_cached(path, dataset, targets) if path is not None and path.is_file() else None
    if features is None:
        dev = resolve_device(device)
        extractor.to(dev).eval()
        chunks = []
        with torch.no_grad():
            for images, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
                chunks.append(extractor(images.to(dev, torch.float32)).float().cpu())
        features = torch.cat(chunks) if chunks else torch.empty(0, extractor.out_features)
        if path is not None:
            with atomic_write(path) as fh:
                torch.save({"features": features, "targets": targets, "settings": extractor.settings()}, fh)
            log.info("features of %s (%d samples) cached in %s", dataset.name, len(dataset), path)
    settings = extractor.settings()
    return FeatureDataset(
        features, targets, dataset.classes, dataset.name, stand_in=dataset.stand_in, origin=dataset.origin,
        source=f"ResNet-{settings['depth']} features (stage {settings['stage']}, pooled "
               f"{settings['pool']}×{settings['pool']}) of {dataset.source}",
    )


# ------------------------------------------------------------------------------------- pre-training
def pretrain_resnet(
    backbone: ResNetCIFAR,
    train_set: Dataset,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 0.1,
    seed: int,
    device: str | torch.device = "auto",
    ckpt_dir: str | os.PathLike | None = None,
    progress: bool = False,
    transform: Any = None,
    val_set: Dataset | None = None,
):
    """Train ``backbone`` (the whole classifier, in place) on ``train_set`` (images in [0, 1]) with
    snnkit's :class:`~snnkit.train.Trainer`: cross-entropy, SGD (momentum 0.9, weight decay 5e-4,
    He et al. 2016 §4.2 use 1e-4), cosine learning-rate schedule over ``epochs``; ``transform`` e.g.
    :func:`snnkit.data.random_crop_flip` (the paper's augmentation). For users without pretrained
    weights (``resnet_pretrain_epochs``); with ``ckpt_dir`` the training resumes and a finished one is
    loaded, not repeated. Returns the trainer's history. Freeze it afterwards with :class:`ResNetFeatures`.
    """
    from snnkit.train import Trainer  # train/ sits beside models/; imported here to keep models/ light

    if not isinstance(backbone, ResNetCIFAR):
        raise ConfigError("backbone", type(backbone).__name__, "a ResNetCIFAR")
    trainer = Trainer(
        backbone,
        loss_fn=F.cross_entropy,
        optimizer=functools.partial(torch.optim.SGD, lr=lr, momentum=0.9, weight_decay=5e-4),
        scheduler=functools.partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=epochs),
        epochs=epochs, batch_size=batch_size, seed=seed, device=device, ckpt_dir=ckpt_dir,
        progress=progress, transform=transform,
    )
    history = trainer.fit(train_set, val_set)
    backbone.eval()
    return history


def resnet_extractor(
    *,
    resnet_weights: str | os.PathLike | None = None,
    resnet_pretrain_epochs: int = 0,
    train_set: Dataset | None = None,
    seed: int = 0,
    device: str | torch.device = "auto",
    ckpt_dir: str | os.PathLike | None = None,
    progress: bool = False,
    transform: Any = None,
    depth: int = 32,
    stage: int = 2,
    pool: int = 4,
) -> ResNetFeatures:
    """The frozen extractor of a ``use_resnet`` run, from the notebook parameters of the same names:
    the weights in ``resnet_weights`` (:func:`load_resnet_weights`), or a ResNet-``depth`` (option A)
    pre-trained for ``resnet_pretrain_epochs`` on ``train_set`` (:func:`pretrain_resnet`, classes from
    ``train_set.classes``). Exactly one of the two must be given (ConfigError otherwise)."""
    epochs = 0 if resnet_pretrain_epochs in (0, None) else check_positive_int(
        "resnet_pretrain_epochs", resnet_pretrain_epochs, where="use_resnet")
    if resnet_weights is not None and epochs:
        raise ConfigError("resnet_pretrain_epochs", resnet_pretrain_epochs,
                          f"0 when resnet_weights is given ({resnet_weights}): use the weights or pre-train, not both")
    if resnet_weights is not None:
        return ResNetFeatures(load_resnet_weights(resnet_weights), stage=stage, pool=pool)
    if not epochs:
        raise ConfigError("resnet_weights", None, "the path of a CIFAR ResNet-32 state dict, or set "
                          "resnet_pretrain_epochs >= 1 to pre-train one here (use_resnet needs one of them)")
    if train_set is None or not hasattr(train_set, "classes"):
        raise ConfigError("train_set", type(train_set).__name__, "a labelled dataset with .classes to pre-train on")
    net = ResNetCIFAR(depth, len(train_set.classes), "A")
    pretrain_resnet(net, train_set, epochs=epochs, seed=seed, device=device, ckpt_dir=ckpt_dir,
                    progress=progress, transform=transform)
    return ResNetFeatures(net, stage=stage, pool=pool)

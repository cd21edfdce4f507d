"""CIFAR ResNet feature extractor: both weight layouts, strict loading, frozen features, cache, pre-training."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snnkit.data import ImageDataset, stratified_subset
from snnkit.errors import CheckpointError, ConfigError
from snnkit.models.resnet_cifar import (
    AKAMASTER_MEAN,
    AKAMASTER_STD,
    CIFAR_MEAN,
    CIFAR_STD,
    LAYOUT_B_STATS,
    FeatureDataset,
    ResNetCIFAR,
    ResNetFeatures,
    extract_features,
    feature_cache_key,
    load_resnet_weights,
    pretrain_resnet,
    resnet_extractor,
    weights_digest,
)
from snnkit.train import cross_validate

LOGGER = "snnkit.models.resnet_cifar"


def _real_weights() -> Path | None:
    """The akamaster file of ../shared/weights (or $SNNKIT_WEIGHTS); users' checkouts have neither."""
    candidates = [Path(os.environ["SNNKIT_WEIGHTS"])] if os.environ.get("SNNKIT_WEIGHTS") else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "weights")
    for c in candidates:
        f = c / "resnet32-cifar10-akamaster.th" if c.is_dir() else c
        if f.is_file():
            return f
    return None


REAL = _real_weights()


def _randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial affine parameters and running statistics (as a trained net has)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = torch.rand(m.num_features, generator=gen) + 0.5
            m.bias.data = torch.randn(m.num_features, generator=gen) * 0.1
            m.running_mean = torch.randn(m.num_features, generator=gen) * 0.1
            m.running_var = torch.rand(m.num_features, generator=gen) + 0.5
    return model.eval()


def _images(n: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------------------- network
def test_resnet32_layouts_and_parameter_count():
    a, b = ResNetCIFAR(32, 10, "A"), ResNetCIFAR(32, 10, "B")
    # He et al. 2016 Table 6: ResNet-32 has 0.46M parameters; B adds two 1x1 projections + BatchNorm
    assert sum(p.numel() for p in a.parameters()) == 464_154
    extra = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    assert sum(p.numel() for p in b.parameters()) == 464_154 + extra
    ka, kb = set(a.state_dict()), set(b.state_dict())
    assert {"conv1.weight", "bn1.running_var", "layer1.4.conv2.weight", "layer3.4.bn2.bias"} <= ka & kb
    assert "linear.weight" in ka and "fc.weight" in kb and "fc.weight" not in ka
    assert kb - ka == {f"layer{s}.0.downsample.{i}.{p}" for s in (2, 3) for i, ps in
                       ((0, ("weight",)), (1, ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")))
                       for p in ps} | {"fc.weight", "fc.bias"}
    assert not any("downsample" in k for k in ka)
    assert a(_images(2)).shape == (2, 10)


@pytest.mark.parametrize("kwargs", [{"depth": 33}, {"depth": 2}, {"shortcut": "C"}, {"num_classes": 0}])
def test_bad_construction(kwargs):
    with pytest.raises(ConfigError) as exc:
        ResNetCIFAR(**kwargs)
    assert repr(next(iter(kwargs.values()))) in str(exc.value)


def test_option_a_shortcut_subsamples_and_pads_channels_on_both_sides():
    block = ResNetCIFAR(8, shortcut="A").layer2[0]
    x = torch.randn(1, 16, 4, 4)
    out = block.shortcut(x)
    assert out.shape == (1, 32, 2, 2)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2])
    assert not out[:, :8].any() and not out[:, 24:].any()


# --------------------------------------------------------------------------------------- loading
def _functional_forward(sd: dict, x: torch.Tensor, mean, std, stage: int = 3) -> torch.Tensor:
    """ResNet-32, option A, written out from the state dict (He et al. §4.2), independent of the module."""
    def bn(h, p):
        return F.batch_norm(h, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"],
                            False, 0.0, 1e-5)

    h = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    h = F.relu(bn(F.conv2d(h, sd["conv1.weight"], padding=1), "bn1"))
    for s in range(1, stage + 1):
        for i in range(5):
            p = f"layer{s}.{i}"
            stride = 2 if s > 1 and i == 0 else 1
            out = F.relu(bn(F.conv2d(h, sd[p + ".conv1.weight"], stride=stride, padding=1), p + ".bn1"))
            out = bn(F.conv2d(out, sd[p + ".conv2.weight"], padding=1), p + ".bn2")
            short = h
            if stride == 2:
                q = out.shape[1] // 4  # the akamaster shortcut: planes // 4 zero channels before and after
                short = F.pad(h[:, :, ::2, ::2], (0, 0, 0, 0, q, q))
            h = F.relu(out + short)
    if stage < 3:
        return h
    return F.linear(h.mean(dim=(2, 3)), sd["linear.weight"], sd["linear.bias"])


@pytest.mark.skipif(REAL is None, reason="the akamaster weights (../shared/weights) are not on this machine")
def test_real_akamaster_weights_load_exactly(caplog):
    raw = torch.load(REAL, map_location="cpu", weights_only=True)["state_dict"]
    sd = {k.removeprefix("module."): v for k, v in raw.items()}
    with caplog.at_level(logging.INFO, logger=LOGGER):
        net = load_resnet_weights(REAL).eval()
    assert "layout A" in caplog.text and "ResNet-32" in caplog.text
    assert (net.depth, net.num_classes, net.shortcut) == (32, 10, "A")
    own = net.state_dict()
    assert set(sd) == {k for k in own if not k.endswith("num_batches_tracked")}
    for k, v in sd.items():  # weights and BN running statistics are the file's (a random init has mean 0, var 1)
        assert torch.equal(own[k], v), k
    assert torch.equal(net.mean.flatten(), torch.tensor(AKAMASTER_MEAN))  # what akamaster's trainer.py used
    x = _images(4)
    with torch.no_grad():
        assert torch.allclose(net(x), _functional_forward(sd, x, AKAMASTER_MEAN, AKAMASTER_STD), atol=1e-4)
        feats = ResNetFeatures(net)(x)
        maps = F.adaptive_avg_pool2d(_functional_forward(sd, x, AKAMASTER_MEAN, AKAMASTER_STD, stage=2), 4).flatten(1)
        lo, hi = maps.amin(1, keepdim=True), maps.amax(1, keepdim=True)
        assert torch.allclose(feats, (maps - lo) / (hi - lo), atol=1e-5)


def test_option_b_state_dict_loads_and_reproduces_outputs(tmp_path, caplog):
    torch.manual_seed(0)
    ref = _randomised(ResNetCIFAR(14, 100, "B"))
    path = tmp_path / "b.pt"
    torch.save(ref.state_dict(), path)  # chenyaofo layout: no prefix, downsample.{0,1}, fc
    with caplog.at_level(logging.INFO, logger=LOGGER):
        net = load_resnet_weights(path).eval()
    assert "layout B" in caplog.text
    assert (net.depth, net.num_classes, net.shortcut) == (14, 100, "B")
    # a 100-class layout-B file: chenyaofo's CIFAR-100 input statistics
    mean, std = LAYOUT_B_STATS[100]
    assert torch.equal(net.mean.flatten(), torch.tensor(mean)) and torch.equal(net.std.flatten(), torch.tensor(std))
    ref.set_normalisation(mean, std)
    x = _images(3)
    with torch.no_grad():
        assert torch.equal(net(x), ref(x))
    # the other spellings: {"state_dict": ...}, a "module." prefix, "shortcut." projections, a "linear" head
    renamed = {"module." + k.replace("downsample", "shortcut").replace("fc.", "linear."): v
               for k, v in ref.state_dict().items()}
    torch.save({"state_dict": renamed, "best_prec1": 1.0}, path)
    with torch.no_grad():
        assert torch.equal(load_resnet_weights(path).eval()(x), ref(x))


def _saved(tmp_path: Path, state: dict) -> Path:
    path = tmp_path / "w.pt"
    torch.save(state, path)
    return path


def test_truncated_file_is_a_checkpoint_error(tmp_path):
    path = _saved(tmp_path, ResNetCIFAR(8).state_dict())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=str(path)):
        load_resnet_weights(path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_resnet_weights(tmp_path / "nope.th")
    assert exc.value.key == "resnet_weights" and "nope.th" in str(exc.value)
    assert "relative path" not in str(exc.value)


def test_missing_relative_path_names_the_folder_it_was_read_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="relative path is read from") as exc:
        load_resnet_weights("weights/r32.th")
    assert str(tmp_path) in str(exc.value)


def test_every_wrong_key_is_named(tmp_path):
    state = ResNetCIFAR(8).state_dict()
    state["layer1.0.convX.weight"] = state.pop("layer1.0.conv1.weight")
    del state["layer3.0.bn2.running_var"]
    state["bn1.weight"] = torch.ones(7)
    with pytest.raises(CheckpointError) as exc:
        load_resnet_weights(_saved(tmp_path, state))
    msg = str(exc.value)
    for name in ("layer1.0.conv1.weight", "layer3.0.bn2.running_var", "layer1.0.convX.weight", "bn1.weight"):
        assert name in msg
    assert "(7,)" in msg and "(16,)" in msg


def test_num_classes_must_match_the_head(tmp_path):
    path = _saved(tmp_path, ResNetCIFAR(8, 10).state_dict())
    assert load_resnet_weights(path, num_classes=10).num_classes == 10
    with pytest.raises(CheckpointError, match="100"):
        load_resnet_weights(path, num_classes=100)


def test_not_a_resnet_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="layer1"):
        load_resnet_weights(_saved(tmp_path, {"weight": torch.zeros(2)}))


# -------------------------------------------------------------------------------------- features
def test_features_normalise_inside_truncate_pool_and_minmax():
    torch.manual_seed(1)
    bb = _randomised(ResNetCIFAR(8, shortcut="A", mean=AKAMASTER_MEAN, std=AKAMASTER_STD))
    x = _images(5)
    ext = ResNetFeatures(bb, mean=CIFAR_MEAN, std=CIFAR_STD)
    assert ext.out_features == 512
    out = ext(x)
    mean, std = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        f = F.adaptive_avg_pool2d(bb.trunk((x - mean) / std, 2), 4).flatten(1)
    lo, hi = f.amin(1, keepdim=True), f.amax(1, keepdim=True)
    assert torch.allclose(out, (f - lo) / (hi - lo), atol=1e-6)
    assert torch.equal(out.amin(1), torch.zeros(5)) and torch.allclose(out.amax(1), torch.ones(5))
    # default statistics: the backbone's own (those its weights were trained with)
    assert torch.equal(ResNetFeatures(bb).mean, bb.mean) and torch.equal(ResNetFeatures(bb).std, bb.std)
    assert ResNetFeatures(bb, stage=3, pool=2).out_features == 64 * 4
    assert ResNetFeatures(bb, stage=3, pool=2)(x).shape == (5, 256)


def test_constant_feature_rows_become_zeros():
    bb = ResNetCIFAR(8)
    for p in bb.parameters():
        nn.init.zeros_(p)
    out = ResNetFeatures(bb)(_images(3))
    assert torch.equal(out, torch.zeros(3, 512))


def test_backbone_frozen_and_stays_in_eval_mode():
    torch.manual_seed(2)
    bb = _randomised(ResNetCIFAR(8)).train()
    stats = {k: v.clone() for k, v in bb.state_dict().items()}
    parent = nn.Sequential(ResNetFeatures(bb), nn.Linear(512, 3))
    parent.train()
    assert not bb.training and all(not m.training for m in bb.modules())
    assert parent[1].training
    assert not any(p.requires_grad for p in bb.parameters())
    parent(_images(4)).sum().backward()  # a training step of the parent: BN statistics must not move
    assert all(torch.equal(v, stats[k]) for k, v in bb.state_dict().items())
    assert all(p.grad is None for p in bb.parameters())


@pytest.mark.parametrize("kwargs", [{"stage": 4}, {"stage": True}, {"pool": 0}, {"pool": 17}, {"std": (1, 0, 1)}])
def test_bad_extractor_settings(kwargs):
    with pytest.raises(ConfigError):
        ResNetFeatures(ResNetCIFAR(8), **kwargs)


# ---------------------------------------------------------------------------------- extract + cache
def _dataset(n: int = 24, seed: int = 0, source: str = "test-set train (24 images) from /data/a") -> ImageDataset:
    targets = torch.arange(n) % 3
    return ImageDataset(_images(n, seed), targets, ["a", "b", "c"], "toy", stand_in=True, source=source,
                        origin={"dir": "/data/a", "files": {"x.bin": "ab" * 32}})


class _Counting(ResNetFeatures):
    calls = 0

    def forward(self, images):
        type(self).calls += 1
        return super().forward(images)


def test_extract_features_contract_and_subsets():
    torch.manual_seed(3)
    ext = ResNetFeatures(_randomised(ResNetCIFAR(8)))
    data = _dataset()
    feats = extract_features(ext, data, batch_size=5)
    assert isinstance(feats, FeatureDataset) and len(feats) == 24
    with torch.no_grad():
        assert torch.allclose(feats.features, ext(data.images), atol=1e-6)
    x, y = feats[7]
    assert x.dtype == torch.float32 and x.shape == (512,) and int(y) == 1
    assert (feats.name, feats.stand_in, feats.classes, feats.origin) == ("toy", True, data.classes, data.origin)
    assert torch.equal(feats.targets, data.targets)
    assert "ResNet-8 features" in feats.source and data.source in feats.source
    sub = stratified_subset(feats, 9, seed=0)
    assert isinstance(sub, FeatureDataset) and len(sub) == 9 and sorted(sub.targets.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    row = int(torch.nonzero((feats.features == sub.features[0]).all(1))[0])
    assert int(feats.targets[row]) == int(sub.targets[0])
    folds = cross_validate(feats, 3, 0, lambda f, tr, va: {"n": len(tr) + len(va), "typed": isinstance(va, FeatureDataset)})
    assert [m["n"] for m in folds.folds] == [24] * 3 and all(m["typed"] for m in folds.folds)


def test_feature_cache_is_written_once_and_reused(tmp_path, caplog):
    torch.manual_seed(4)
    ext = _Counting(_randomised(ResNetCIFAR(8)))
    data = _dataset()
    _Counting.calls = 0
    first = extract_features(ext, data, batch_size=8, cache_dir=tmp_path)
    assert _Counting.calls == 3
    key = feature_cache_key(data, weights_digest(ext.backbone), **ext.settings())
    assert [p.name for p in tmp_path.iterdir()] == [f"{key}.pt"]
    second = extract_features(ext, data, batch_size=8, cache_dir=tmp_path)
    assert _Counting.calls == 3, "the second run of a sweep must read the cache, not run the extractor"
    assert torch.equal(first.features, second.features) and second.source == first.source
    # another extractor setting is another cache entry; a damaged entry is rebuilt, with a warning
    extract_features(_Counting(ext.backbone, pool=2), data, batch_size=8, cache_dir=tmp_path)
    assert _Counting.calls == 6 and len(list(tmp_path.iterdir())) == 2
    (tmp_path / f"{key}.pt").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        third = extract_features(ext, data, batch_size=8, cache_dir=tmp_path, cache_key=key)
    assert _Counting.calls == 9 and "unusable" in caplog.text
    assert torch.equal(third.features, first.features)
    assert torch.equal(torch.load(tmp_path / f"{key}.pt", weights_only=True)["features"], first.features)


def test_feature_cache_key_tells_datasets_weights_and_settings_apart():
    data = _dataset()
    key = feature_cache_key(data, "w1", stage=2, pool=4)
    assert key.startswith("toy-")
    moved = _dataset(source="test-set train (24 images) from /data/b")
    moved.origin = {"dir": "/data/b", "files": data.origin["files"]}
    assert feature_cache_key(moved, "w1", stage=2, pool=4) == key  # same files elsewhere: same features
    assert feature_cache_key(data, "w2", stage=2, pool=4) != key
    assert feature_cache_key(data, "w1", stage=2, pool=2) != key
    assert feature_cache_key(_dataset(source="test-set test (24 images) from /data/a"), "w1", stage=2, pool=4) != key
    assert feature_cache_key(data.subset(range(12), note="fold 1"), "w1", stage=2, pool=4) != key
    other_files = _dataset()
    other_files.origin = {"dir": "/data/a", "files": {"x.bin": "cd" * 32}}
    assert feature_cache_key(other_files, "w1", stage=2, pool=4) != key
    assert weights_digest(ResNetCIFAR(8)) != weights_digest(ResNetCIFAR(8))  # random inits differ
    net, copy = ResNetCIFAR(8), ResNetCIFAR(8)
    copy.load_state_dict(net.state_dict())
    assert weights_digest(net) == weights_digest(copy)


def test_extract_features_refuses_a_plain_dataset():
    with pytest.raises(ConfigError, match="lacks"):
        extract_features(ResNetFeatures(ResNetCIFAR(8)), torch.utils.data.TensorDataset(_images(2), torch.zeros(2)))


# ------------------------------------------------------------------------------------- pre-training
def test_pretrain_learns_a_separable_task(tmp_path):
    n = 64
    gen = torch.Generator().manual_seed(5)
    targets = torch.arange(n) % 2
    images = torch.rand(n, 3, 32, 32, generator=gen) * 0.5
    images[targets == 1, 0] += 0.5  # class 1: red tint
    data = ImageDataset(images, targets, ["grey", "red"], "tint")
    net = ResNetCIFAR(8, 2)
    history = pretrain_resnet(net, data, epochs=3, batch_size=16, lr=0.05, seed=0, device="cpu",
                              ckpt_dir=tmp_path / "ck")
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    # cosine schedule over 3 epochs: lr, lr·(1 + cos(π/3))/2, lr·(1 + cos(2π/3))/2
    assert [round(h["lr"], 6) for h in history] == [0.05, 0.0375, 0.0125]
    assert not net.training
    with torch.no_grad():
        acc = (net(images).argmax(1) == targets).float().mean().item()
    assert acc == 1.0


def test_resnet_extractor_from_weights_or_pretraining(tmp_path):
    torch.manual_seed(6)
    ref = _randomised(ResNetCIFAR(8, 10, "B"))
    path = _saved(tmp_path, ref.state_dict())
    ext = resnet_extractor(resnet_weights=str(path))
    assert isinstance(ext, ResNetFeatures) and weights_digest(ext.backbone) == weights_digest(ref)
    data = ImageDataset(_images(8), torch.arange(8) % 4, list("abcd"), "toy")
    ext = resnet_extractor(resnet_pretrain_epochs=1, train_set=data, seed=0, device="cpu", depth=8,
                           ckpt_dir=tmp_path / "pre")
    assert ext.backbone.num_classes == 4 and (tmp_path / "pre" / "last.pt").is_file()
    assert not any(p.requires_grad for p in ext.parameters())
    with pytest.raises(ConfigError) as exc:
        resnet_extractor()
    assert exc.value.key == "resnet_weights"
    with pytest.raises(ConfigError) as exc:
        resnet_extractor(resnet_weights=str(path), resnet_pretrain_epochs=2, train_set=data)
    assert exc.value.key == "resnet_pretrain_epochs"

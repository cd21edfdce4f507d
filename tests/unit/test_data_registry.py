"""The dataset registry: lookup, options, the data contract, registering a new kind of dataset."""

from __future__ import annotations

import logging

import pytest
import torch

from snnkit.data import (
    CONTRACT,
    REGISTRY,
    LabelledDataset,
    dataset_names,
    dataset_spec,
    load_dataset,
    register_dataset,
    registry,
    split_train_val,
    stratified_subset,
)
from snnkit.errors import ConfigError, DataError


class Features(LabelledDataset):
    """A 2-D feature dataset: not images, so not an ImageDataset."""

    def __init__(self, x, targets, classes, name, **kw):
        super().__init__(targets, classes, name, **kw)
        self.x = x

    def __getitem__(self, i):
        return self.x[i], self.targets[i]

    def _take(self, idx):
        return self.x[idx]


@pytest.fixture
def scratch_names():
    """Names registered by a test are removed afterwards."""
    before = set(registry._REGISTRY)
    yield
    for name in set(registry._REGISTRY) - before:
        del registry._REGISTRY[name]


def _toy_loader(spec, split, *, data_root, download, scale=1.0):
    n = 12 if split == "train" else 6
    x = torch.arange(n * 3, dtype=torch.float32).view(n, 3) * scale
    return Features(x, torch.arange(n) % 3, spec.classes, spec.name,
                    source=f"toy {split} root={data_root} download={download}",
                    origin={"dir": None, "files": {"toy": "0" * 64}})


@pytest.mark.usefixtures("scratch_names")
def test_register_and_load_a_new_kind_of_dataset():
    spec = register_dataset("toy", _toy_loader, "three classes of features", classes=("a", "b", "c"),
                            options=("scale",))
    assert dataset_spec("toy") is spec and REGISTRY["toy"] is spec and dataset_names()[-1] == "toy"
    ds = load_dataset("toy", "test", download=False, scale=2.0)
    assert isinstance(ds, Features) and len(ds) == 6 and ds.name == "toy" and ds.classes == ["a", "b", "c"]
    assert torch.equal(ds.x[1], torch.tensor([6.0, 8.0, 10.0]))  # the option reached the loader
    assert ds.source == "toy test root=None download=False"
    assert all(hasattr(ds, attr) for attr in CONTRACT)
    # subsets and splits work on any LabelledDataset, keeping its type, name and origin
    tr, va = split_train_val(load_dataset("toy", "train"), 0.25, seed=0)
    assert isinstance(va, Features) and len(va) == 3 and sorted(va.targets.tolist()) == [0, 1, 2]
    assert va.origin == ds.origin and "val part" in va.source
    sub = stratified_subset(tr, 3, seed=0)
    assert isinstance(sub, Features) and sorted(sub.targets.tolist()) == [0, 1, 2]
    # the rows travel with their labels
    for x, y in zip(sub.x, sub.targets):
        assert int(x[0]) // 3 % 3 == int(y)


@pytest.mark.usefixtures("scratch_names")
def test_registration_errors():
    register_dataset("toy", _toy_loader, "toy", classes=("a", "b", "c"))
    with pytest.raises(ConfigError, match="already|not yet registered"):
        register_dataset("toy", _toy_loader, "again")
    replaced = register_dataset("toy", _toy_loader, "replaced", classes=("a", "b", "c"), replace=True)
    assert dataset_spec("toy") is replaced
    for bad in ("", " toy", 3):
        with pytest.raises(ConfigError, match="dataset name"):
            register_dataset(bad, _toy_loader, "x")
    with pytest.raises(ConfigError, match="loader"):
        register_dataset("toy2", "not callable", "x")


@pytest.mark.usefixtures("scratch_names")
def test_load_errors_name_the_bad_value_and_the_choices():
    register_dataset("toy", _toy_loader, "toy", classes=("a", "b", "c"), splits=("train",),
                     options=("scale",))
    with pytest.raises(ConfigError, match="'svhn'") as info:
        load_dataset("svhn", "train")
    assert all(name in str(info.value) for name in ("toy", "fashionmnist", "cifar100"))
    with pytest.raises(ConfigError, match="'split' = 'test'.*'train'"):
        load_dataset("toy", "test")
    with pytest.raises(ConfigError, match="'verify'.*scale"):
        load_dataset("toy", "train", verify=False)
    register_dataset("broken", lambda spec, split, **kw: torch.utils.data.TensorDataset(torch.zeros(2)),
                     "returns a dataset without the contract attributes")
    with pytest.raises(TypeError, match="broken.*name"):
        load_dataset("broken", "train")


def test_shipped_dataset_ignores_data_root_with_a_warning(caplog, tmp_path):
    with caplog.at_level(logging.WARNING, logger="snnkit.data.registry"):
        ds = load_dataset("mnist-embedded", "test", data_root=tmp_path)
    assert "not used" in caplog.text and str(tmp_path) in caplog.text
    assert ds.origin["dir"] != str(tmp_path)


def test_labelled_dataset_checks_labels():
    with pytest.raises(DataError, match="labels span"):
        Features(torch.zeros(2, 3), torch.tensor([0, 3]), ["a", "b", "c"], "toy")
    with pytest.raises(DataError, match="1-D"):
        Features(torch.zeros(2, 3), torch.zeros(2, 1), ["a"], "toy")

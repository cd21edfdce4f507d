"""Datasets, input encodings and augmentation.

Notebooks call :func:`load_dataset` (names in :data:`DATASETS`), then encode with :func:`encode`.
Dataset files are resolved as described in :mod:`snnkit.data.root`.
"""

from __future__ import annotations

from snnkit.data.augment import random_crop_flip
from snnkit.data.encoding import ENCODINGS, current, encode, rate
from snnkit.data.images import (
    DATASETS,
    SPLITS,
    ImageDataset,
    array_sha256,
    load_cifar10,
    load_cifar100,
    load_dataset,
    load_digits,
    load_embedded,
    load_fashion_mnist,
    load_mnist,
    read_idx,
    split_train_val,
    stratified_subset,
    write_idx,
)
from snnkit.data.root import ENV_VAR, SYSTEM_LOCATIONS, download_url, find_files

__all__ = [
    "DATASETS",
    "SPLITS",
    "ENCODINGS",
    "ENV_VAR",
    "SYSTEM_LOCATIONS",
    "ImageDataset",
    "array_sha256",
    "current",
    "download_url",
    "encode",
    "find_files",
    "load_cifar10",
    "load_cifar100",
    "load_dataset",
    "load_digits",
    "load_embedded",
    "load_fashion_mnist",
    "load_mnist",
    "random_crop_flip",
    "rate",
    "read_idx",
    "split_train_val",
    "stratified_subset",
    "write_idx",
]

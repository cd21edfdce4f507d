"""Datasets, input encodings and augmentation.

Notebooks call :func:`load_dataset` (registered names: :func:`dataset_names`; families add theirs with
:func:`register_dataset`), then encode with :func:`encode`. Dataset files are resolved as described in
:mod:`snnkit.data.root`. Variable-length sequences: :mod:`snnkit.data.sequences`.
"""

from __future__ import annotations

from snnkit.data.augment import random_crop_flip
from snnkit.data.encoding import ENCODINGS, current, encode, rate
from snnkit.data.imagefolder import (  # importing it registers imagenet and imagenet-standin
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageFolderDataset,
    imagefolder_dataset,
    imagenet_transform,
    scan_imagefolder,
)
from snnkit.data.images import (  # importing it registers the image datasets
    ImageDataset,
    array_sha256,
    load_cifar10,
    load_cifar100,
    load_digits,
    load_embedded,
    load_fashion_mnist,
    load_mnist,
    read_idx,
    write_idx,
)
from snnkit.data.registry import (
    CONTRACT,
    REGISTRY,
    SPLITS,
    DatasetSpec,
    LabelledDataset,
    dataset_names,
    dataset_spec,
    load_dataset,
    register_dataset,
)
from snnkit.data.root import ENV_VAR, Remote, Source, download_url, find_files
from snnkit.data.sampling import (
    TargetSubset,
    labels_of,
    split_train_val,
    stratified_partition,
    stratified_subset,
)
from snnkit.data.sequences import (
    PADS,
    EventSequenceDataset,
    SequenceDataset,
    bin_events,
    last_step,
    masked_max,
    masked_mean,
    masked_sum,
    pad_collate,
    time_mask,
)
from snnkit.data.shd import random_affine, read_shd_file, shd_dataset, write_shd_file  # registers shd, ssc
from snnkit.data.shd_standin import build_shd_standin  # registers shd-standin-small and shd-standin
from snnkit.data.standins import (  # importing it registers cifar10-standin(-full), cifar100-standin
    STAND_INS,
    build_stand_in,
    stand_in_root,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageFolderDataset",
    "imagefolder_dataset",
    "imagenet_transform",
    "scan_imagefolder",
    "build_shd_standin",
    "random_affine",
    "read_shd_file",
    "shd_dataset",
    "write_shd_file",
    "CONTRACT",
    "PADS",
    "ENCODINGS",
    "ENV_VAR",
    "REGISTRY",
    "SPLITS",
    "STAND_INS",
    "DatasetSpec",
    "EventSequenceDataset",
    "ImageDataset",
    "LabelledDataset",
    "Remote",
    "SequenceDataset",
    "Source",
    "TargetSubset",
    "array_sha256",
    "bin_events",
    "build_stand_in",
    "current",
    "dataset_names",
    "dataset_spec",
    "download_url",
    "encode",
    "find_files",
    "labels_of",
    "last_step",
    "load_cifar10",
    "load_cifar100",
    "load_dataset",
    "load_digits",
    "load_embedded",
    "load_fashion_mnist",
    "load_mnist",
    "masked_max",
    "masked_mean",
    "masked_sum",
    "pad_collate",
    "random_crop_flip",
    "rate",
    "read_idx",
    "register_dataset",
    "split_train_val",
    "stand_in_root",
    "stratified_partition",
    "stratified_subset",
    "time_mask",
    "write_idx",
]

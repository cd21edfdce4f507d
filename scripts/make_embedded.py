#!/usr/bin/env python
"""Build the embedded datasets in ``snnkit/data/embedded/`` from the full official sources.

- ``fashionmnist.npz``: class-balanced subset of Fashion-MNIST: 400 images per class from the official
  *train* set (4000 "train") and 100 per class from the official *test* set (1000 "test").
- ``mnist.npz``: both splits come from the official MNIST *test* set (10k; when the subset was made only
  that set was at hand offline, and it is kept so that results made with it stay comparable): 200
  images per class (2000), of which 150 per class form "train" (1500) and the other 50 per class
  "test" (500). The two splits are disjoint. Its numbers are not comparable with results on the
  official MNIST train/test split.

Each ``.npz`` holds ``{split}_images`` (uint8 [N, 28, 28]), ``{split}_labels`` (int64 [N]) and
``{split}_source_index`` (int64 [N], row in the official file it came from). Selection is seeded
(``--seed``, default 0) and the zip is written with fixed timestamps, so reruns are byte-identical.
``manifest.json`` records each file's SHA-256 (checked at load) and how it was made.

Usage: python scripts/make_embedded.py [--seed 0] [--out snnkit/data/embedded] [--data-root DIR]
(without --data-root the official files are found as the loaders find them, e.g. through $SNNKIT_DATA;
rerun on the same sources, it writes byte-identical files).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snnkit.data.images import load_fashion_mnist, load_mnist  # noqa: E402
from snnkit.utils import atomic_write, atomic_write_text  # noqa: E402

log = logging.getLogger("make_embedded")


def balanced_pick(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``per_class`` random indices of every class, sorted."""
    picks = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_class:
            raise SystemExit(f"class {c} has only {len(idx)} samples, need {per_class}")
        picks.append(rng.choice(idx, size=per_class, replace=False))
    return np.sort(np.concatenate(picks))


def to_uint8(images) -> np.ndarray:  # ImageDataset float [N,1,H,W] in [0,1] → uint8 [N,H,W]
    return np.rint(images[:, 0].numpy() * 255.0).astype(np.uint8)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A compressed .npz with fixed member timestamps (np.savez stamps the current time)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue(), compresslevel=9)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())
    path.chmod(0o644)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "snnkit/data/embedded")
    ap.add_argument("--data-root", default=None, help="where the official IDX files are (default: resolved)")
    ap.add_argument("--fmnist-train-per-class", type=int, default=400)
    ap.add_argument("--fmnist-test-per-class", type=int, default=100)
    ap.add_argument("--mnist-train-per-class", type=int, default=150)
    ap.add_argument("--mnist-test-per-class", type=int, default=50)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = np.random.default_rng(args.seed)
    files: dict[str, dict] = {}

    # Fashion-MNIST: train subset from train, test subset from test (checksums of the sources verified).
    arrays: dict[str, np.ndarray] = {}
    counts = {}
    for split, per_class in (("train", args.fmnist_train_per_class), ("test", args.fmnist_test_per_class)):
        ds = load_fashion_mnist(split, args.data_root, download=False, verify=True)
        labels = ds.targets.numpy()
        idx = balanced_pick(labels, per_class, rng)
        arrays[f"{split}_images"] = to_uint8(ds.images[idx])
        arrays[f"{split}_labels"] = labels[idx].astype(np.int64)
        arrays[f"{split}_source_index"] = idx.astype(np.int64)
        counts[split] = len(idx)
    write_npz(args.out / "fashionmnist.npz", arrays)
    files["fashionmnist.npz"] = {
        "dataset": "fashionmnist-embedded",
        "description": f"class-balanced: {counts['train']} train from the official train set, "
        f"{counts['test']} test from the official test set (seed {args.seed})",
        "counts": counts,
    }

    # MNIST: both splits from the official test set, disjoint.
    ds = load_mnist("test", args.data_root, download=False, verify=True)
    labels = ds.targets.numpy()
    per_class = args.mnist_train_per_class + args.mnist_test_per_class
    pool = balanced_pick(labels, per_class, rng)
    train_idx, test_idx = [], []
    for c in np.unique(labels[pool]):
        members = pool[labels[pool] == c]
        members = members[rng.permutation(len(members))]
        train_idx.append(members[: args.mnist_train_per_class])
        test_idx.append(members[args.mnist_train_per_class :])
    arrays = {}
    counts = {}
    for split, idx in (
        ("train", np.sort(np.concatenate(train_idx))),
        ("test", np.sort(np.concatenate(test_idx))),
    ):
        arrays[f"{split}_images"] = to_uint8(ds.images[idx])
        arrays[f"{split}_labels"] = labels[idx].astype(np.int64)
        arrays[f"{split}_source_index"] = idx.astype(np.int64)
        counts[split] = len(idx)
    write_npz(args.out / "mnist.npz", arrays)
    files["mnist.npz"] = {
        "dataset": "mnist-embedded",
        "description": f"class-balanced, both splits from the official MNIST test set (t10k): "
        f"{counts['train']} 'train' / {counts['test']} 'test', disjoint (seed {args.seed})",
        "counts": counts,
    }

    for name, entry in files.items():
        data = (args.out / name).read_bytes()
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        entry["bytes"] = len(data)
        log.info("%s: %d bytes, sha256 %s", name, len(data), entry["sha256"])
    manifest = {"generator": "scripts/make_embedded.py", "seed": args.seed, "files": files}
    atomic_write_text(args.out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (args.out / "manifest.json").chmod(0o644)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

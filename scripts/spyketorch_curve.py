#!/usr/bin/env python
"""Learning curve of the original SpykeTorch implementation of mozafari2018, beside one of snnkit's runs.

    python scripts/spyketorch_curve.py --spyketorch DIR [--train 9167] [--epochs 10] [--test-each 2000]
        [--snnkit-run reports/stdp_mnist/custom/mozafari2018_online] [--out reports/bench/spyketorch_curve.json]

SpykeTorch (Mozafari et al., Frontiers in Neuroscience 2019; GPL-3) is not on PyPI: clone
github.com/miladmozafari/SpykeTorch and pass its folder. This script runs that checkout's ``MozafariDeep.py`` model
class and training functions as they are (on CPU; the file's own data and training driver, from ``data_root =`` on,
is not run) on a random subset of the official MNIST training images (read by snnkit's loader, ``$SNNKIT_DATA``):
layer 1 one epoch, layer 2 one epoch, then R-STDP epochs with the file's adaptive rates updated after every 1,000
samples, online, in its fixed order. After each R-STDP epoch it records the training accuracy and the accuracy on
the first ``--test-each`` test images; at the end, on the whole test set. With ``--snnkit-run`` it prints the
R-STDP training accuracy per epoch of that snnkit run beside it (``reports/stdp_mnist/custom/mozafari2018_online``
is the same schedule: 10,000 images, of which 9,167 train, ``learn_batch`` 1) and stores it in the record too. The
record names the checkout's commit, snnkit's commit and package versions, and the machine.

It takes about an hour on one core (the original's R-STDP costs 20-50 ms per sample here); snnkit's run takes 4 min.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from snnkit._compat import import_torchvision  # noqa: E402
from snnkit.data.images import load_mnist  # noqa: E402
from snnkit.errors import SnnkitError  # noqa: E402
from snnkit.report.run import git_info, package_versions  # noqa: E402


def load_upstream(folder: Path) -> dict:
    """The namespace of ``MozafariDeep.py`` up to its data driver, with CUDA off; SpykeTorch importable from
    ``folder``."""
    script = folder / "MozafariDeep.py"
    if not (folder / "SpykeTorch" / "snn.py").is_file() or not script.is_file():
        raise SnnkitError(f"--spyketorch {folder}: expected a SpykeTorch checkout (SpykeTorch/snn.py and "
                          "MozafariDeep.py), see github.com/miladmozafari/SpykeTorch")
    text = script.read_text()
    marker = "data_root = "
    if marker not in text or "use_cuda = True" not in text:
        raise SnnkitError(f"{script}: not the MozafariDeep.py this script knows (no {marker!r} or 'use_cuda = True')")
    text = text[:text.index(marker)].replace("use_cuda = True", "use_cuda = False")
    text = text.replace("        if self.cnt % 1000 == 0:\n            print(self.cnt)\n", "")
    import_torchvision()
    sys.path.insert(0, str(folder))
    namespace: dict = {"__name__": "spyketorch_mozafari_deep"}
    exec(compile(text, str(script), "exec"), namespace)  # noqa: S102 - the user's own checkout, run as it is
    return namespace


def snnkit_curve(run: Path) -> list[float]:
    """R-STDP training accuracy per epoch of an snnkit stdp_mnist run (its tables/history.csv)."""
    path = run / "tables" / "history.csv"
    if not path.is_file():
        raise SnnkitError(f"--snnkit-run {run}: no tables/history.csv (a finished stdp_mnist run directory)")
    with path.open() as f:
        return [float(r["train_accuracy"]) for r in csv.DictReader(f) if r["phase"] == "l3"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spyketorch", type=Path, required=True, help="a SpykeTorch checkout")
    ap.add_argument("--train", type=int, default=9167, help="training images (a random subset; default 9167)")
    ap.add_argument("--epochs", type=int, default=10, help="R-STDP epochs (default 10)")
    ap.add_argument("--test-each", type=int, default=2000, help="test images scored after each epoch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--snnkit-run", type=Path, help="an snnkit stdp_mnist run directory to print beside")
    ap.add_argument("--out", type=Path, default=Path("reports/bench/spyketorch_curve.json"))
    args = ap.parse_args(argv)
    try:
        if not 1 <= args.train <= 60000 or args.epochs < 1 or args.test_each < 1:
            raise SnnkitError(f"--train {args.train} (1-60000), --epochs {args.epochs} and --test-each "
                              f"{args.test_each} (>= 1) out of range")
        ours = snnkit_curve(args.snnkit_run) if args.snnkit_run else None
        up = load_upstream(args.spyketorch.expanduser())
    except SnnkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    train, test = load_mnist("train"), load_mnist("test")
    pick = np.random.default_rng(args.seed).permutation(len(train.targets))[:args.train]

    def encode(images: torch.Tensor) -> torch.Tensor:  # snnkit's [0, 1] floats back to the uint8 pixels
        pixels = (images[:, 0] * 255).round().to(torch.uint8).numpy()
        return torch.stack([up["s1c1"](p) for p in pixels])

    start = time.perf_counter()
    x_train, y_train = encode(train.images[pick]), train.targets[pick]
    x_test, y_test = encode(test.images), test.targets
    record: dict = {
        "spyketorch": {"path": str(args.spyketorch), **git_info(args.spyketorch.expanduser())},
        "snnkit": {**git_info(Path(__file__).resolve().parents[1]), "versions": package_versions()},
        "machine": {"platform": platform.platform(), "cores": os.cpu_count(), "threads": 1},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "train": args.train, "seed": args.seed, "encode_s": time.perf_counter() - start, "epochs": [],
    }
    if ours is not None:
        record["snnkit_run"], record["snnkit_train_accuracy"] = str(args.snnkit_run), ours
    net = up["MozafariMNIST2018"]()
    batches = [(x_train[i:i + 1000], y_train[i:i + 1000]) for i in range(0, args.train, 1000)]
    for layer in (1, 2):
        start = time.perf_counter()
        for data, _ in batches:
            up["train_unsupervise"](net, data, layer)
        record[f"l{layer}_s"] = time.perf_counter() - start
    apr, anr = net.stdp3.learning_rate[0][0].item(), net.stdp3.learning_rate[0][1].item()
    app, anp = net.anti_stdp3.learning_rate[0][1].item(), net.anti_stdp3.learning_rate[0][0].item()
    for epoch in range(1, args.epochs + 1):
        start, totals = time.perf_counter(), np.zeros(3)
        for data, targets in batches:
            perf = up["train_rl"](net, data, targets)  # fractions correct, wrong, silent of this batch
            net.update_learning_rates(apr * perf[1], anr * perf[1], app * perf[0], anp * perf[0])
            totals += perf * len(data)
        seconds = time.perf_counter() - start
        head = up["test"](net, x_test[:args.test_each], y_test[:args.test_each])
        row = {"epoch": epoch, "train_accuracy": totals[0] / args.train, "train_silent": totals[2] / args.train,
               "test_head_accuracy": float(head[0]), "epoch_s": seconds}
        record["epochs"].append(row)
        mine = f"   snnkit {ours[epoch - 1]:.4f}" if ours and epoch <= len(ours) else ""
        print(f"R-STDP epoch {epoch}: SpykeTorch train {row['train_accuracy']:.4f}{mine}   "
              f"(test head {row['test_head_accuracy']:.4f}, {seconds:.0f} s)", flush=True)
    start = time.perf_counter()
    record["test_accuracy"] = float(up["test"](net, x_test, y_test)[0])
    record["test_s"] = time.perf_counter() - start
    print(f"SpykeTorch test accuracy {record['test_accuracy']:.4f} ({len(y_test)} images)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

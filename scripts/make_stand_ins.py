#!/usr/bin/env python
"""Write the CIFAR-10 / CIFAR-100 stand-ins (snnkit.data.standins) as files, in CIFAR's on-disk format.

The datasets ``cifar10-standin`` / ``cifar100-standin`` / ``cifar10-standin-full`` build these on first
use into the cache; this script is for a user who wants the files themselves, e.g. to read them with
another tool:

    python scripts/make_stand_ins.py --out DIR [--only cifar10|cifar100|cifar10-full] [--seed 0]
                                     [--fashion-mnist FOLDER]

writes ``DIR/cifar-10-batches-py/`` and ``DIR/cifar-100-python/`` (each with the ``SNNKIT_STAND_IN``
marker) and ``DIR/<kind>-standin.json`` (the files' SHA-256). Then
``load_dataset("cifar10", "train", data_root=DIR)`` reads them as a stand-in. Reruns with the same
seed write byte-identical files. The full-size CIFAR-10 stand-in (``--only cifar10-full``; not part of
the default, as it fills the same ``cifar-10-batches-py`` folder) is made from the full Fashion-MNIST,
looked up as ``load_dataset("fashionmnist")`` does or in ``--fashion-mnist FOLDER``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snnkit.data.standins import STAND_INS, build_stand_in  # noqa: E402
from snnkit.errors import SnnkitError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder to write the CIFAR folders into")
    ap.add_argument("--only", choices=sorted(STAND_INS), action="append",
                    help="build only this stand-in (repeatable; default: cifar10 and cifar100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fashion-mnist", type=Path, default=None, metavar="FOLDER",
                    help="folder holding the full Fashion-MNIST IDX files (cifar10-full only; default: "
                    "$SNNKIT_DATA, the system copy, the download cache, a download)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        for kind in args.only or sorted(k for k, info in STAND_INS.items() if not info.full):
            source = {"data_root": args.fashion_mnist} if STAND_INS[kind].full else {}
            build_stand_in(kind, args.out, seed=args.seed, **source)
    except SnnkitError as exc:
        print(f"make_stand_ins: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

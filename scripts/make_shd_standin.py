#!/usr/bin/env python
"""Make the SHD stand-in (snnkit.data.shd_standin): espeak-ng digits → gammatone cochlea → spikes, in SHD's HDF5 schema.

    python scripts/make_shd_standin.py [--out DIR] [--seed 0] [--train 8156] [--test 2264]
    python scripts/make_shd_standin.py --small          # rewrite the shipped snnkit/data/embedded/shd_standin/

Without ``--out`` the SHD-sized set goes where the dataset ``shd-standin`` looks for it
(``cache_dir()/standins/shd-standin-v<version>-seed<seed>/``). ``--small`` writes the small set (600 /
200) as xz archives into the embedded folder (or ``--out``). Needs ``espeak-ng``; one core, about
0.1-0.15 s per utterance. Reruns with the same arguments write byte-identical HDF5 files.
``--readout`` prints the linear read-out accuracies of the result (spike counts, 1 and 4 time bins).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snnkit.data import shd_standin as S  # noqa: E402
from snnkit.errors import SnnkitError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="folder to write into (default: see above)")
    ap.add_argument("--small", action="store_true", help="the shipped small set, xz-compressed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train", type=int, help="training samples (default 8156, --small 600)")
    ap.add_argument("--test", type=int, help="test samples (default 2264, --small 200)")
    ap.add_argument("--readout", action="store_true", help="print the linear read-out accuracies")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sizes = S.SMALL_SIZES if args.small else S.SHD_SIZES
    n_train, n_test = args.train or sizes[0], args.test or sizes[1]
    start = time.perf_counter()
    try:
        if args.small:
            out = S.write_embedded(args.out or S.EMBEDDED_DIR, n_train=n_train, n_test=n_test, seed=args.seed)
            files = [S.read_standin_file(out / f"{name}.xz") for name in S.FILES] if args.readout else []
        else:
            out = args.out or S.default_build_dir(seed=args.seed)
            S.build_shd_standin(out, n_train=n_train, n_test=n_test, seed=args.seed,
                                progress=lambda split, i, n: print(f"{split}: {i}/{n}", flush=True))
            files = [S.read_standin_file(out / name) for name in S.FILES] if args.readout else []
    except SnnkitError as exc:
        print(f"make_shd_standin: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s")
    if files:
        for bins in (1, 4):
            acc = S.linear_readout_accuracy(files[0], files[1], bins=bins)
            print(f"linear read-out of spike counts, {bins} time bin(s): test accuracy {acc:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: Linear + spiking neuron, forward and backward — snnkit's neurons vs the Linear floor and peers.

Workloads (time-first ``[T, B, N]``; input: Bernoulli(0.05) spikes, no gradient):

====  =====  =====  ============  =========================================
name  batch  T      Linear        what
====  =====  =====  ============  =========================================
W1    64     1000   700 → 128     SHD at 1 ms (Yarga & Wood's hidden layer)
W2    64     100    700 → 128     SHD binned 10× coarser
W3    16     500    1024 → 1024   a wide layer over a long sequence
W4    256    50     2048 → 2048   G2GNet's hidden layer
====  =====  =====  ============  =========================================

The rows (``bench/_neuron_peers.py`` describes each and its settings): ``linear_only`` (the floor),
``snnkit_lif``, ``snnkit_cuba_lif``, ``snnkit_spsn_sb``, ``snnkit_spsn_gs``, ``snnkit_paralif``,
``snntorch_leaky`` (a Python loop over T), ``snntorch_leakyparallel``, ``spikingjelly_lif``, ``norse_lif``.
Every row hands the Linear's output to its neuron marked with :func:`snnkit.neurons.buffers.donate`, as
snnkit's own SHD network does: snnkit's neurons keep their saved state in it (the peers ignore the mark).

Fields of a record: ``fwd_ms`` (one forward with autograd on, as in training) and ``fwd_bwd_ms`` (forward,
then backward of the loss ``⟨out, g⟩`` (a dot product with a fixed random ``g``: no intermediate tensor),
reaching the Linear's weights and every learnable neuron parameter): medians over ``--repeat`` repeats after
``--warmup`` runs, the rows taking turns in every repeat so that load from other processes hits them alike
(``fwd_min_ms`` / ``fwd_bwd_min_ms``: the fastest repeat, less sensitive to load). ``peak_delta_mb``: how
much the peak resident memory (RSS) rises during one forward+backward, measured in a **fresh subprocess per
(workload, row)** so that one row's peak cannot hide another's: the child builds the inputs and the layer,
runs one forward+backward (warm-up: lazy initialisation, thread pools), drops the gradients, runs ``gc`` and
glibc's ``malloc_trim``, resets the kernel's peak-RSS counter (writing ``5`` to ``/proc/self/clear_refs``,
Linux ≥ 4.0), reads ``VmRSS``, runs one forward+backward and reads ``VmHWM`` (the peak since the reset):
delta = VmHWM − VmRSS. Exact (no sampling); where ``clear_refs`` cannot be written it falls back to
``bench._common.PeakRSS`` (RSS sampled every ~0.5 ms) and says so in ``mem_method``. ``peak_fixed_mb``: the
same in a second child whose glibc keeps its mmap threshold fixed at 1 MiB (``MALLOC_MMAP_THRESHOLD_``), so
every large tensor is mapped on allocation and unmapped on free: the peak of live memory. With glibc's default
the threshold rises after the first large free, later blocks of W1's size (31 MiB) come from the heap and
stay resident after they are freed, and ``peak_delta_mb`` then also counts up to one or two such freed blocks,
varying with the order in which each implementation frees them. Both apply to every row alike. ``saved_mb``: the
storages autograd keeps for backward after one forward (input excluded). ``out_mean``: the mean output (the
firing rate for the spiking rows), a check that rows do alike work.

``neuron_fwd_ms`` / ``neuron_bwd_ms`` / ``neuron_fwd_bwd_ms``: the neuron's own share inside Linear + neuron, from
a third interleaved pass: its forward, and the backward from the loss until the gradient reaches the Linear's
output (a tensor hook); the floor's row gives the backward of ``⟨out, g⟩`` alone, which every row includes.
Where the Linear dominates (W4: 95 % of the time, and its own time varies by ±15 % between repeats) the ratio
of whole rows cannot tell the neurons apart; this one can. None for ``snntorch_leakyparallel``, whose
``nn.RNN`` fuses the Linear with the neuron.

Paired ratios (``over_floor``, ``over_best_peer``, ``neuron_over_best_peer``, each with quartiles ``_q1`` / ``_q3``;
:func:`add_paired_ratios`): repeat i of a row over repeat i of the floor, of the fastest peer, and (the neuron's
share) of the peer with the smallest share, then the median over repeats. The rows of one repeat run within
seconds of each other, so load that drifts over minutes (this machine: ±15 % between runs) divides out; the
samples themselves are kept (``fwd_samples_ms``, ``fwd_bwd_samples_ms``, ``neuron_fwd_bwd_samples_ms``).

``snnkit_buffer_pool_mb``: how many MiB of freed large buffers snnkit's kernels keep for reuse
(``SNNKIT_BUFFER_POOL_MB``, default 1024, :mod:`snnkit.neurons.buffers`): the timed repeats reuse them, as a
training loop does; the memory children empty the pool before the measured step, so its peak counts every
buffer the step maps.

``snnkit_huge_pages``: whether snnkit's kernels took their large buffers from huge-page mappings
(``SNNKIT_HUGE_PAGES=1``, :mod:`snnkit.neurons.buffers`; off by default, and in the committed runs).

Threads: ``torch.set_num_threads(1)`` unless ``--threads`` says otherwise (the machine is shared; one
thread gives stable ratios). Every record names ``threads`` and ``torch``.

The **SHD epoch table** (``--epoch-batches K``, 0 to skip): seconds per epoch of the SPSN authors' 3×128
network (:class:`snnkit.models.shd.ShdNet`, 700 → 128 → 128 → 128 → 20, Adamax, cross-entropy on the
mean read-out) for every neuron type, one training step (forward, backward, optimiser step) per batch of
64: the median of K timed steps (after one warm-up) × 128 batches (8156 samples / 64, the last batch
counted as a full one). T is the median padded batch length of the SHD stand-in (batches of 64 padded to
their longest sample; the SHD-sized stand-in if built, else the shipped small one, made by the same recipe),
else 1000. The batch is synthetic (Bernoulli(0.02) spikes, every sample T steps); data loading is not timed.

    python bench/neurons.py --quick                       # T/10, a few minutes
    python bench/neurons.py                               # W1–W4, every row, memory, epoch table
    python bench/neurons.py --workloads W1,W3 --impls linear_only,snnkit_lif,snntorch_leaky --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import PeakRSS, Record, malloc_trim, timed, write_records  # noqa: E402
from bench._neuron_peers import FLOOR, IMPLS, PEERS, LinearThen, Unavailable, build  # noqa: E402
from bench.lif import _saved_mb  # noqa: E402
from snnkit.neurons.buffers import clear_pool, donate, huge_pages_used, pool_limit  # noqa: E402

OUT = ROOT / "reports" / "bench" / "neurons.json"
INPUT_RATE = 0.05
CPU = torch.device("cpu")


@dataclass(frozen=True)
class Workload:
    name: str
    batch: int
    steps: int
    n_in: int
    n_out: int

    def spec(self) -> str:
        return f"{self.name}:{self.batch},{self.steps},{self.n_in},{self.n_out}"

    @classmethod
    def parse(cls, spec: str) -> Workload:
        name, sizes = spec.split(":")
        return cls(name, *(int(v) for v in sizes.split(",")))

    def describe(self) -> str:
        return f"{self.name}: batch {self.batch}, T={self.steps}, {self.n_in}→{self.n_out}"


WORKLOADS: dict[str, Workload] = {
    "W1": Workload("W1", 64, 1000, 700, 128),
    "W2": Workload("W2", 64, 100, 700, 128),
    "W3": Workload("W3", 16, 500, 1024, 1024),
    "W4": Workload("W4", 256, 50, 2048, 2048),
}
#: --quick: the same layers and batches over T/10 steps, so the ratios to the floor stay close to the full ones
#: (records named "W1-quick", ...; they never replace W1's).
QUICK: dict[str, Workload] = {
    key: Workload(f"{key}-quick", w.batch, w.steps // 10, w.n_in, w.n_out) for key, w in WORKLOADS.items()
}


def make_data(w: Workload, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Input spikes ``[T, B, n_in]`` and the fixed loss weights ``g`` ``[T, B, n_out]`` of a workload."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(w.steps, w.batch, w.n_in, generator=gen).lt_(INPUT_RATE).float()
    g = torch.randn(w.steps, w.batch, w.n_out, generator=gen)
    return x, g


def _forward(layer: nn.Module, x: Tensor) -> Callable[[], None]:
    def go() -> None:
        layer(x)

    return go


def _forward_backward(layer: nn.Module, x: Tensor, g: Tensor) -> Callable[[], None]:
    def go() -> None:
        torch.dot(layer(x).flatten(), g.flatten()).backward()  # ⟨out, g⟩ without an [T, B, N] product
        layer.zero_grad(set_to_none=True)

    return go


def _neuron_share(layer: nn.Module, x: Tensor, g: Tensor) -> Callable[[], tuple[float, float]] | None:
    """One forward+backward of a row, returning the neuron's own share in ms: (its forward; the backward from
    the loss until the gradient reaches the Linear's output, ⟨out, g⟩'s own backward included). The floor's
    row gives (0, that backward alone). None where the neuron is not a separate step (``LeakyParallel``)."""
    neuron: Callable[[Tensor], Tensor] | None
    if isinstance(layer, LinearThen):
        fc, neuron = layer.fc, layer.fire
    elif layer.__class__ is nn.Linear:
        fc, neuron = layer, None
    else:
        return None

    def go() -> tuple[float, float]:
        current = fc(x)
        start = time.perf_counter()
        out = neuron(donate(current)) if neuron is not None else current  # as LinearThen.forward
        mid = time.perf_counter()
        reached: list[float] = []
        current.register_hook(lambda grad: reached.append(time.perf_counter()))
        loss = torch.dot(out.flatten(), g.flatten())
        back = time.perf_counter()
        loss.backward()
        layer.zero_grad(set_to_none=True)
        return (mid - start) * 1e3, (reached[0] - back) * 1e3

    return go


def time_rows(layers: dict[str, nn.Module], x: Tensor, g: Tensor, warmup: int, repeats: int) -> dict[str, Record]:
    """``fwd_ms`` and ``fwd_bwd_ms`` of every row, then the neuron's own share (``neuron_fwd_ms``,
    ``neuron_bwd_ms``, ``neuron_fwd_bwd_ms``; None where it is not separable): medians of interleaved repeats
    (rows take turns)."""
    out: dict[str, Record] = {name: {} for name in layers}
    for key, make in (("fwd_ms", lambda m: _forward(m, x)), ("fwd_bwd_ms", lambda m: _forward_backward(m, x, g))):
        calls = {name: make(layer) for name, layer in layers.items()}
        for call in calls.values():
            for _ in range(warmup):
                call()
        samples: dict[str, list[float]] = {name: [] for name in layers}
        for _ in range(repeats):
            for name, call in calls.items():
                samples[name].append(timed(call, CPU))
        for name in layers:
            out[name][key] = statistics.median(samples[name])
            out[name][key.replace("_ms", "_min_ms")] = min(samples[name])
            out[name][key.replace("_ms", "_samples_ms")] = samples[name]
    shares = {name: _neuron_share(layer, x, g) for name, layer in layers.items()}
    parts: dict[str, list[tuple[float, float]]] = {name: [] for name, call in shares.items() if call is not None}
    for name in parts:
        for _ in range(warmup):
            shares[name]()
    for _ in range(repeats):
        for name in parts:
            parts[name].append(shares[name]())
    for name in layers:
        got = parts.get(name)
        out[name]["neuron_fwd_ms"] = statistics.median(f for f, _ in got) if got else None
        out[name]["neuron_bwd_ms"] = statistics.median(b for _, b in got) if got else None
        out[name]["neuron_fwd_bwd_ms"] = statistics.median(f + b for f, b in got) if got else None
        out[name]["neuron_fwd_bwd_samples_ms"] = [f + b for f, b in got] if got else None
    for name, layer in layers.items():
        with torch.no_grad():
            out[name]["out_mean"] = float(layer(x).float().mean())
    return out


# ------------------------------------------------------------------------------------------- peak memory


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_child(spec: str, impl: str, threads: int) -> dict[str, Any]:
    """In this (fresh) process: peak-RSS rise of one forward+backward of ``impl`` on workload ``spec``."""
    torch.set_num_threads(threads)
    w = Workload.parse(spec)
    x, g = make_data(w)
    layer = build(impl, w.n_in, w.n_out)
    step = _forward_backward(layer, x, g)
    step()  # warm-up
    saved = _saved_mb(layer, x)
    gc.collect()
    clear_pool()  # snnkit's kept buffers are not resident before the step: the step maps what it needs afresh
    malloc_trim()
    if _reset_peak():
        before = _status_kb("VmRSS")
        step()
        return {"peak_delta_mb": (_status_kb("VmHWM") - before) / 1024, "saved_mb": saved,
                "mem_method": "VmHWM after clear_refs"}
    with PeakRSS() as peak:
        step()
    return {"peak_delta_mb": peak.delta_mb, "saved_mb": saved, "mem_method": "RSS sampled every 0.5 ms"}


#: glibc setting of the second memory child: a fixed 1 MiB mmap threshold (large blocks never stay in the heap)
FIXED_MMAP_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}


def peak_in_subprocess(w: Workload, impl: str, threads: int, timeout: float = 900) -> dict[str, Any]:
    """Run :func:`peak_child` in a fresh interpreter with glibc's defaults, then in another with
    :data:`FIXED_MMAP_ENV` (``peak_fixed_mb``); None values (with the reason printed) where one fails."""
    cmd = [sys.executable, "-W", "ignore", str(Path(__file__).resolve()), "--peak-child", w.spec(), impl,
           "--threads", str(threads)]
    out: dict[str, Any] = {}
    for env, key in ((None, "peak_delta_mb"), ({**os.environ, **FIXED_MMAP_ENV}, "peak_fixed_mb")):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=True,
                                  env=env)
            res = json.loads(done.stdout.strip().splitlines()[-1])
        except (subprocess.SubprocessError, ValueError, IndexError) as err:
            tail = getattr(err, "stderr", "") or ""
            print(f"note: peak memory of {impl} at {w.name} ({key}) failed: {err!r} {tail[-300:]}")
            res = {"peak_delta_mb": None, "saved_mb": None, "mem_method": "failed"}
        if key == "peak_delta_mb":
            out.update(res)
        else:
            out[key] = res["peak_delta_mb"]
    return out


# ------------------------------------------------------------------------------------------------- tables


def _fastest_peer(records: Sequence[Record]) -> Record | None:
    peers = [r for r in records if r["impl"] in PEERS and math.isfinite(r["fwd_bwd_ms"])]
    return min(peers, key=lambda r: r["fwd_bwd_ms"]) if peers else None


def _quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def add_paired_ratios(records: Sequence[Record]) -> None:
    """Ratios of repeats taken side by side: repeat i of a row over repeat i of the floor (``over_floor``), of the
    fastest peer by median (``over_best_peer``), and the neuron's share over that of the peer with the smallest
    share (``neuron_over_best_peer``); each the median and quartiles (``_q1``, ``_q3``) over repeats. The rows of a
    repeat run one after the other within seconds, so load that changes over minutes divides out, which a ratio
    of two medians does not do."""
    floor = next((r for r in records if r["impl"] == FLOOR), None)
    best = _fastest_peer(records)
    shares = [r for r in records if r["impl"] in PEERS and r.get("neuron_fwd_bwd_samples_ms")]
    best_share = min(shares, key=lambda r: r["neuron_fwd_bwd_ms"]) if shares else None
    for r in records:
        for key, base, field in (("over_floor", floor, "fwd_bwd_samples_ms"),
                                 ("over_best_peer", best, "fwd_bwd_samples_ms"),
                                 ("neuron_over_best_peer", best_share, "neuron_fwd_bwd_samples_ms")):
            num, den = r.get(field), base.get(field) if base is not None else None
            if not num or not den:
                r[key] = r[key + "_q1"] = r[key + "_q3"] = None
                continue
            r[key + "_q1"], r[key], r[key + "_q3"] = _quartiles([a / b for a, b in zip(num, den)])


def print_workload(w: Workload, records: Sequence[Record]) -> None:
    """One table per workload: times, memory, and ratios to the floor and to the fastest peer."""
    floor = next((r for r in records if r["impl"] == FLOOR), None)
    best = _fastest_peer(records)
    snntorch = next((r for r in records if r["impl"] == "snntorch_leaky"), None)

    def ratio(rec: Record, base: Record | None, key: str) -> str:
        num_, den = rec.get(key), base.get(key) if base is not None else None
        return f"{num_ / den:.2f}" if den and num_ is not None else "-"

    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else f"{value:{fmt}}"

    print(f"\n{w.describe()} — median of interleaved repeats, {records[0]['threads']} thread(s)")
    head = (f"{'impl':<24}{'fwd_ms':>10}{'fwd_bwd_ms':>12}{'/floor':>8}{'/best peer':>11}"
            f"{'peak_mb':>9}{'/snntorch':>10}{'fixed_mb':>9}{'/snntorch':>10}{'saved_mb':>9}{'out_mean':>9}")
    print(head)
    print("-" * len(head))
    for r in records:
        print(f"{r['impl']:<24}{r['fwd_ms']:>10.1f}{r['fwd_bwd_ms']:>12.1f}{ratio(r, floor, 'fwd_bwd_ms'):>8}"
              f"{ratio(r, best, 'fwd_bwd_ms'):>11}{num(r['peak_delta_mb'], '.1f'):>9}"
              f"{ratio(r, snntorch, 'peak_delta_mb'):>10}{num(r.get('peak_fixed_mb'), '.1f'):>9}"
              f"{ratio(r, snntorch, 'peak_fixed_mb'):>10}{num(r['saved_mb'], '.1f'):>9}{r['out_mean']:>9.3f}")
    print(f"/floor, /best peer: fwd_bwd_ms over {FLOOR}'s and over the fastest peer's"
          f" ({best['impl'] if best else 'none run'}); /snntorch: peak_delta_mb (peak_fixed_mb: glibc mmap "
          "threshold fixed at 1 MiB) over snntorch_leaky's")
    print("paired: the median and quartiles over repeats of repeat i's time over repeat i of the floor / the best "
          "peer (load that drifts between repeats divides out):")
    for r in records:
        cells = [f"{r[k + '_q1']:.2f} {r[k]:.2f} {r[k + '_q3']:.2f}" if r.get(k) is not None else "-"
                 for k in ("over_floor", "over_best_peer", "neuron_over_best_peer")]
        print(f"  {r['impl']:<24}/floor {cells[0]:<16} /best peer {cells[1]:<16} neuron /best peer's {cells[2]}")
    split = [r for r in records if r.get("neuron_fwd_bwd_ms") is not None]
    peers = [r for r in split if r["impl"] in PEERS]
    best_split = min(peers, key=lambda r: r["neuron_fwd_bwd_ms"]) if peers else None
    if split:
        print(f"the neuron's own share of those fwd+bwd ({FLOOR}: 0 and the backward of <out, g> alone, which every"
              " row's backward includes):")
        for r in split:
            print(f"  {r['impl']:<24}fwd {r['neuron_fwd_ms']:>8.1f}  bwd {r['neuron_bwd_ms']:>8.1f}  total "
                  f"{r['neuron_fwd_bwd_ms']:>8.1f}  /best peer {ratio(r, best_split, 'neuron_fwd_bwd_ms'):>5}")
        print(f"  (best peer here: {best_split['impl'] if best_split else 'none run'})")


def run_workload(w: Workload, impls: Sequence[str], args: argparse.Namespace) -> list[Record]:
    x, g = make_data(w)
    layers: dict[str, nn.Module] = {}
    for name in impls:
        try:
            layers[name] = build(name, w.n_in, w.n_out)
        except Unavailable as err:
            print(f"note: skipping {name} at {w.name}: {err}")
    timings = time_rows(layers, x, g, args.warmup, args.repeat)
    del layers, x, g
    gc.collect()
    records = []
    for name, res in timings.items():
        mem = ({"peak_delta_mb": None, "peak_fixed_mb": None, "saved_mb": None, "mem_method": "not measured"}
               if args.no_memory
               else peak_in_subprocess(w, name, args.threads))
        records.append({"workload": w.name, "impl": name, "device": "cpu", **res, **mem,
                        "batch": w.batch, "steps": w.steps, "n_in": w.n_in, "n_out": w.n_out,
                        "threads": args.threads, "repeats": args.repeat, "torch": torch.__version__,
                        "snnkit_huge_pages": huge_pages_used(), "snnkit_buffer_pool_mb": pool_limit() >> 20})
    add_paired_ratios(records)
    print_workload(w, records)
    return records


# -------------------------------------------------------------------------------------------- SHD epoch

EPOCH_SAMPLES, EPOCH_BATCH = 8156, 64
PUBLISHED_S_PER_EPOCH = {"LIF": 252.2, "SPSN-SB": 5.5, "SPSN-GS": 6.8, "Non-Spiking": 1.5}  # seed README, GPU


def standin_steps(batch: int = EPOCH_BATCH, seed: int = 0) -> tuple[int, str]:
    """Median padded length of batches of the SHD stand-in (``shd-standin`` if built, else the shipped small
    one, made by the same recipe). Never builds the SHD-sized one (that takes 15-25 min)."""
    try:
        from snnkit.data import load_dataset
        from snnkit.data.shd_standin import default_build_dir
    except ImportError as err:
        return 1000, f"T=1000 (no SHD stand-in in snnkit.data: {err})"
    built = (default_build_dir() / "standin.json").is_file()
    for name in ("shd-standin", "shd-standin-small")[0 if built else 1:]:
        try:
            lengths = load_dataset(name, "train", download=False).lengths
        except Exception:  # noqa: BLE001 - not registered / not built here: try the next, else T=1000
            continue
        order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed))
        maxima = [int(lengths[order[i:i + batch]].max()) for i in range(0, len(lengths), batch)]
        return int(statistics.median(maxima)), f"median padded batch length of {name}"
    return 1000, "T=1000 (no SHD stand-in loadable here)"


def epoch_rows(neurons: Sequence[str], steps: int, k: int, threads: int) -> list[Record]:
    """Seconds per SHD-sized epoch of ShdNet for each neuron type (median of k steps × batches per epoch)."""
    try:
        from snnkit.models.shd import ShdNet
    except ImportError as err:
        print(f"note: no epoch table: snnkit.models.shd.ShdNet is not importable ({err})")
        return []
    n_batches = math.ceil(EPOCH_SAMPLES / EPOCH_BATCH)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(steps, EPOCH_BATCH, 700, generator=gen).lt_(0.02).float()
    y = torch.randint(0, 20, (EPOCH_BATCH,), generator=gen)
    lengths = torch.full((EPOCH_BATCH,), steps, dtype=torch.int64)
    records = []
    for neuron in neurons:
        torch.manual_seed(0)
        try:
            net = ShdNet(700, 20, neuron=neuron)
        except Exception as err:  # noqa: BLE001 - a neuron type not wired yet: skip its row, say why
            print(f"note: skipping {neuron} in the epoch table: {err!r}")
            continue
        opt = torch.optim.Adamax(net.parameters(), lr=1e-3)

        def train_step(net: nn.Module = net, opt: torch.optim.Optimizer = opt) -> None:
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(net((x, lengths)), y).backward()
            opt.step()

        train_step()
        samples = []
        for _ in range(k):
            start = time.perf_counter()
            train_step()
            samples.append(time.perf_counter() - start)
        batch_s = statistics.median(samples)
        records.append({"workload": "shd_epoch", "impl": f"shdnet_{neuron}", "device": "cpu",
                        "neuron": neuron, "s_per_epoch": batch_s * n_batches, "batch_ms": batch_s * 1e3,
                        "steps": steps, "batch": EPOCH_BATCH, "batches_per_epoch": n_batches,
                        "timed_batches": k, "threads": threads, "torch": torch.__version__})
    return records


def print_epoch_table(records: Sequence[Record], steps_note: str) -> None:
    if not records:
        return
    lif = next((r for r in records if r["neuron"] == "LIF"), None)
    print(f"\n1 epoch training duration, SHD-sized (8156 samples, batch 64, T={records[0]['steps']}: {steps_note}),"
          f" 3×128, {records[0]['threads']} CPU thread(s); published: the seed's table (an unstated GPU)")
    print("| Neuron | Basic (this CPU) | LIF / this | Basic (published, GPU) |")
    print("|---|---|---|---|")
    for r in records:
        speed = f"{lif['s_per_epoch'] / r['s_per_epoch']:.1f}×" if lif else "-"
        pub = PUBLISHED_S_PER_EPOCH.get(r["neuron"])
        print(f"| {r['neuron']} | {r['s_per_epoch']:.1f} s | {speed} | {f'{pub} s' if pub else '-'} |")
    print(f"(median of {records[0]['timed_batches']} training steps × {records[0]['batches_per_epoch']} batches; "
          "data loading not timed)")


# ---------------------------------------------------------------------------------------------------- main


def _names(text: str | None, allowed: Sequence[str], what: str) -> list[str]:
    if not text:
        return list(allowed)
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in names if v not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what} {unknown}; choose from {list(allowed)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="T/10 workloads (W1-quick ...), 3 repeats")
    parser.add_argument("--workloads", default=None, help=f"comma-separated subset of {list(WORKLOADS)}, or none (only the epoch table)")
    parser.add_argument("--impls", default=None, help="comma-separated subset of the rows (default: all)")
    parser.add_argument("--repeat", type=int, default=None, help="timed repeats (default 5; quick 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per row first (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-row peak-RSS subprocesses")
    parser.add_argument("--epoch-batches", type=int, default=None,
                        help="timed training steps per neuron for the SHD epoch table (default 3; quick 0; 0: skip)")
    parser.add_argument("--epoch-steps", type=int, default=None,
                        help="T of the epoch table (default: the stand-in's median padded batch length, else 1000)")
    parser.add_argument("--epoch-neurons", default=None, help="subset of ShdNet's neuron types for that table")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--peak-child", nargs=2, metavar=("WORKLOAD_SPEC", "IMPL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.peak_child:
        print(json.dumps(peak_child(args.peak_child[0], args.peak_child[1], args.threads)))
        return 0
    args.repeat = args.repeat or (3 if args.quick else 5)
    table = QUICK if args.quick else WORKLOADS
    impls = _names(args.impls, IMPLS, "impls")
    records: list[Record] = []
    for key in [] if args.workloads == "none" else _names(args.workloads, list(WORKLOADS), "workloads"):
        records += run_workload(table[key], impls, args)
    k = args.epoch_batches if args.epoch_batches is not None else (0 if args.quick else 3)
    if k > 0:
        try:
            from snnkit.models.shd import NEURONS
        except ImportError:
            NEURONS = ("LIF", "SPSN-SB", "SPSN-GS", "ParaLIF", "Non-Spiking")  # epoch_rows says why it skips
        steps, note = (args.epoch_steps, "set by --epoch-steps") if args.epoch_steps else standin_steps()
        epoch = epoch_rows(_names(args.epoch_neurons, NEURONS, "neurons"), steps, k, args.threads)
        print_epoch_table(epoch, note)
        records += epoch
    if records:
        write_records(args.out, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

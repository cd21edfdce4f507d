"""Benchmark: the STDP / R-STDP family (``mozafari2018``) per sample against the original SpykeTorch figures
and Spyker, with the Mozafari training schedule extrapolated from the measured costs (issue 9, Performance).

Mozafari, Ganjtabesh, Nowzari-Dalini, Thorpe & Masquelier, Pattern Recognition 94:87-95 (2019): MNIST 28x28,
S1C1 (six DoG filters, local normalisation, rank coding into T = 15 bins), conv 6→30 (5x5, θ 15, k 5, r 3)
→ pool 2 → conv 30→250 (3x3, θ 10, k 8, r 1) → pool 3 → 200-feature decision (5x5). Workloads, each in ms
per sample, all on real MNIST training images (``$SNNKIT_DATA``; the embedded subset when it is missing):

- ``preprocess``: images → S1C1 first-spike times (:func:`snnkit.experiments.stdp.encode`).
- ``l1_stdp``: the start of the L1 phase, timed as it runs: :meth:`StdpNet.stdp_step` of ``conv1`` on the
  first ``n`` S1C1 times from the seeded initial weights (reset before every timed pass), in chunks of
  ``learn_batch`` images: 1, the online rule of the paper and of the ``paper`` profile (the rows the targets
  and the schedule read), and 16, the ``cpu`` profile's batched rule (winners of 16 images taken with the
  same weights; 64 as an extra row), rates from
  :func:`snnkit.stdp.learning.doubling_schedule`. The cost per sample falls as the weights sparsen (fewer
  positions fire), so the first ``n`` samples cost more than the phase's average (2 epochs): a conservative
  figure.
- ``l2_stdp``: the start of the L2 phase the same way (``conv2`` from its initial weights; batches 1 and 16), on
  the layer-1 output times (``features_times(times, 1)``) of a ``conv1`` trained by two passes over the same
  ``n`` samples.
- ``l3_rstdp``: ``rstdp_forward(2, ...)`` + ``rstdp_step`` of the decision layer on the R-STDP phase's cache
  as the trainer builds it (``decision_input``: whether each layer-2 output fired by the last step; batches 1
  and 16), rewarded when the decision is the label (reward (0.004, -0.003), punishment (-0.004, 0.0005)). For
  this cache and for inference, layers 1 and 2 are first trained (untimed) for the schedule's epochs (2 and 4
  passes over their ``n`` samples), so that the decision's input is about as sparse as in a full run (36 % of
  it fires here, 27 % in the committed paper run; after one pass each, 78 %: the spike sums' cost grows with
  it).
- ``inference``: :meth:`LayerwiseTrainer.predict` from S1C1 times to decisions (eval batch 1000); the record
  also holds ``end_to_end_ms_per_sample``, from images (preprocess + inference in one pass).

Peers: ``spyketorch_reported`` (the original SpykeTorch timed on this machine, 2 cores — the figures of
issue 9; constants below, not measured here) and ``spyker`` (PyPI ``spyker`` 0.1.0, SpykeTorch's C++ successor,
BSD-3), run side by side in this process with the same thread count: DoG filter (13x13, the size of snnkit's
padded bank), threshold and rank coding (Spyker has no local normalisation, so its preprocess does less
work), then per layer its ``Conv``, ``threshold``/``inhibit``, ``convwta`` and ``Conv.stdp`` from cached
inputs as snnkit's rows (each layer's phase from its seeded initial weights, on the output of its own
trained lower layers, as snnkit's); inference is its conv1 → fire → pool → conv2 → fire → pool → conv3 → single winner.
Ratios ``ratio_vs_original`` = SpykeTorch ms / impl ms (targets: inference ≥ 20x, each training phase ≥ 5x,
judged on the online rows, as the original learns one image at a time);
``vs_spyker`` on snnkit rows = Spyker ms / snnkit ms (≥ 1: snnkit no slower).

Each pass over ``n`` samples is timed; the implementations take turns in every repeat (median of repeats),
so load from other processes hits them alike; the load average is recorded. The schedule extrapolation
(60,000 samples, 2 L1 + 4 L2 + 20 R-STDP epochs at the paper profile's online rule, plus the S1C1 pass, the
two caching passes and a validation pass per R-STDP epoch) is printed with its formula and stored in the ``inference`` record of
snnkit (``schedule_hours``). JSON records: ``reports/bench/stdp.json`` (the format of the other benchmarks).

    python bench/stdp.py --quick   # 2 threads, small passes: about a minute
    python bench/stdp.py           # 2 and 1 threads, 2 repeats: about 10 minutes on this 2-core CPU
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import write_records  # noqa: E402
from snnkit.data import load_dataset  # noqa: E402
from snnkit.experiments.stdp import EncodedSet, LayerwiseTrainer, encode  # noqa: E402
from snnkit.models.stdp_nets import StdpNet  # noqa: E402
from snnkit.stdp import learning as sl  # noqa: E402

MODEL = "mozafari2018"
T = 15
#: SpykeTorch (the original library) per sample on this machine, 2 cores: issue 9, section "Performance".
ORIGINAL_MS = {"preprocess": 3.5, "l1_stdp": 4.6, "l2_stdp": 10.1, "l3_rstdp": 18.3, "inference": 15.9}
ORIGINAL_SOURCE = "issue 9 (Performance): the original SpykeTorch timed on this machine, 2 cores, per sample"
#: speed-up targets vs ORIGINAL_MS (issue 9): inference >= 20x, every training phase >= 5x
TARGETS = {"l1_stdp": 5.0, "l2_stdp": 5.0, "l3_rstdp": 5.0, "inference": 20.0}
SCHEDULE = {"samples": 60_000, "l1_epochs": 2, "l2_epochs": 4, "rstdp_epochs": 20, "val_samples": 5_000}
SCHEDULE_TARGET_H = 1.0
#: the paper profile's trainer parameters (snnkit.models.stdp_nets.StdpMnistParams, epochs [2, 4, 20])
PARAMS = {"epochs": [2, 4, 20], "learn_batch": 1, "eval_batch": 1000, "doubling_every": 500,
          "max_a_plus": 0.15, "adaptive_every": 1000, "patience": 5, "shuffle": True, "seed": 42}
RSTDP_RATES = ((0.004, -0.003), (-0.004, 0.0005))
#: the ``cpu`` profile's learn_batch: winners of this many images taken with the same weights (extra rows; the
#: lower layers of the timed phases are trained with it, which is faster and reaches the same sparse regime)
BATCHED = 16


def load_images(n: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The first ``n`` MNIST training images ``[n, 1, 28, 28]`` in [0, 1], their labels and the data's name
    (full MNIST from ``$SNNKIT_DATA``, else the embedded subset, repeated if it is smaller than ``n``)."""
    try:
        ds = load_dataset("mnist", "train", download=False)
        name = "mnist (official, $SNNKIT_DATA)"
    except Exception as err:  # missing files: the embedded subset ships with snnkit
        print(f"note: full MNIST unavailable ({type(err).__name__}: {err}); using mnist-embedded")
        ds = load_dataset("mnist-embedded", "train")
        name = "mnist-embedded"
    images, targets = ds.images, torch.as_tensor(ds.targets).long()
    reps = -(-n // images.shape[0])
    return images.repeat(reps, 1, 1, 1)[:n].float(), targets.repeat(reps)[:n], name


def rates_for(first: int, n: int) -> torch.Tensor:
    return torch.tensor([sl.doubling_schedule(first + j, 0.004, every=PARAMS["doubling_every"],
                                              max_a_plus=PARAMS["max_a_plus"]) for j in range(n)])


def chunks(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(start + size, n)


def paper_row(rec: dict[str, Any]) -> bool:
    """A record at the paper profile's setting: the training rows at its learn_batch (online), preprocessing and
    inference at any batch. The targets are judged and the schedule extrapolated on these."""
    return rec["workload"] in ("preprocess", "inference") or rec["batch"] == PARAMS["learn_batch"]


def _train(net: StdpNet, name: str, data: torch.Tensor, n: int, batch: int, epochs: int = 1) -> None:
    """Layer ``name``'s STDP phase over the first ``n`` samples, ``epochs`` passes (the doubling schedule counts
    from 0 over all of them)."""
    for epoch in range(epochs):
        for start, stop in chunks(n, batch):
            net.stdp_step(name, data[start:stop], rates_for(epoch * n + start, stop - start))


class SnnkitImpl:
    """snnkit's passes over ``n`` samples. :meth:`prepare` trains ``conv1`` and ``conv2`` by their phases (untimed)
    and caches their outputs; the timed training passes restart their layer from the initial weights on a
    separate network (``work``), inference runs on the trained one (``net``)."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor) -> None:
        self.images, self.targets = images, targets
        self.net = StdpNet(MODEL, time_steps=T, seed=0)
        self.work = copy.deepcopy(self.net)
        self.init = {name: self.net.weight(name).clone() for name in self.net.layer_names}
        self.trainer = LayerwiseTrainer(self.net, PARAMS)
        self.cache_ms: dict[str, float] = {}

    def prepare(self, n_times: int, n_cache: int, n_phase: dict[str, int]) -> None:
        """S1C1 times of ``n_times`` images; ``conv1`` trained over ``n_phase["l1"]`` samples (the schedule's L1
        epochs of passes), its output cached (timed) for ``n_cache``, ``conv2`` trained likewise over
        ``n_phase["l2"]`` of them, its output cached (timed)."""
        self.enc = encode(types.SimpleNamespace(images=self.images[:n_times], targets=self.targets[:n_times]), T)
        sub = EncodedSet(self.enc.times[:n_cache], self.enc.targets[:n_cache])
        _train(self.net, "conv1", self.enc.times, n_phase["l1"], BATCHED, SCHEDULE["l1_epochs"])
        t0 = time.perf_counter()
        self.l1_out = self.trainer.features(sub, 1)
        t1 = time.perf_counter()
        _train(self.net, "conv2", self.l1_out, n_phase["l2"], BATCHED, SCHEDULE["l2_epochs"])
        t2 = time.perf_counter()
        # the R-STDP phase's cache, as the trainer builds it for a decision learner: fired by the last step
        self.l2_out = self.trainer.decision_input(sub, 2)
        t3 = time.perf_counter()
        last = self.trainer.last_step(sub, 2)
        t4 = time.perf_counter()
        self.trainer._decide_cached(last, 2, full=False)
        t5 = time.perf_counter()
        self.cache_ms = {"cache_l1": (t1 - t0) * 1e3 / n_cache, "cache_l2": (t3 - t2) * 1e3 / n_cache,
                         "val_last_step": (t4 - t3) * 1e3 / n_cache, "val_decide": (t5 - t4) * 1e3 / n_cache}
        for name in ("conv1", "conv2"):  # the work network's lower layers: trained, as in the schedule
            self.work.weight(name).copy_(self.net.weight(name))

    def _restart(self, name: str) -> None:
        self.work.weight(name).copy_(self.init[name])

    def preprocess(self, n: int, batch: int) -> None:
        encode(types.SimpleNamespace(images=self.images[:n], targets=self.targets[:n]), T, batch=batch)

    def l1(self, n: int, batch: int) -> None:
        self._restart("conv1")
        _train(self.work, "conv1", self.enc.times, n, batch)

    def l2(self, n: int, batch: int) -> None:
        self._restart("conv2")
        _train(self.work, "conv2", self.l1_out, n, batch)

    def l3(self, n: int, batch: int) -> None:
        self._restart("conv3")
        rates = {"conv3": RSTDP_RATES}
        for start, stop in chunks(n, batch):
            out = self.work.rstdp_forward(2, self.l2_out[start:stop], ("conv3",))
            reward = {"conv3": out["pred"] == self.targets[start:stop]}
            self.work.rstdp_step(("conv3",), out, reward, rates)

    def inference(self, n: int, batch: int) -> None:
        self.trainer.predict(EncodedSet(self.enc.times[:n], self.enc.targets[:n]))

    def end_to_end(self, n: int, batch: int) -> None:
        enc = encode(types.SimpleNamespace(images=self.images[:n], targets=self.targets[:n]), T, batch=batch)
        self.trainer.predict(enc)


class SpykerImpl:
    """Spyker 0.1.0's Mozafari pipeline (its ``mozafari_mnist_original`` example's operators, snnkit's
    thresholds 15 and 10), with its own caches of every layer's input (uint8 waves ``[B, T, C, H, W]``). As
    snnkit's: :meth:`prepare` trains ``conv1`` and ``conv2`` by their phases; a timed training pass restarts its
    layer from the seeded initial weights (a new ``Conv`` drawn after reseeding Spyker's generator)."""

    def __init__(self, spyker: Any, images: torch.Tensor, targets: torch.Tensor) -> None:
        self.sp, self.images, self.targets = spyker, images, targets
        dog = spyker.DoGFilter
        filters = [dog(3 / 9, 6 / 9), dog(6 / 9, 3 / 9), dog(7 / 9, 14 / 9), dog(14 / 9, 7 / 9),
                   dog(13 / 9, 26 / 9), dog(26 / 9, 13 / 9)]
        self.dog = spyker.DoG(6, filters, pad=6)  # 13x13 bank, 28x28 out (as snnkit's padded bank)
        self.conv1, self.conv2, self.conv3 = self._initial()
        self.work = dict(zip(("conv1", "conv2", "conv3"), self._initial()))

    def _initial(self, upto: int = 3) -> list[Any]:
        """The first ``upto`` layers at their seeded initial weights (the same every call: each layer's draws
        follow the earlier layers' from one reseeded generator)."""
        sp = self.sp
        sp.random_seed(0)
        shapes = ((6, 30, 5, 2), (30, 250, 3, 1), (250, 200, 5, 2))
        convs = [sp.Conv(cin, cout, k, pad=pad, mean=0.8, std=0.05) for cin, cout, k, pad in shapes[:upto]]
        if upto == 3:
            convs[2].stdpconfig = [sp.STDPConfig(*RSTDP_RATES[0], False, 0.2, 0.8),
                                   sp.STDPConfig(*RSTDP_RATES[1], False, 0.2, 0.8)]
        return convs

    def _restart(self, name: str) -> Any:
        index = ("conv1", "conv2", "conv3").index(name)
        self.work[name] = self._initial(index + 1)[index]
        return self.work[name]

    def code(self, images: torch.Tensor) -> torch.Tensor:
        return self.sp.code(self.sp.threshold(self.dog(images), 0.02), T)

    def hidden1(self, x: torch.Tensor) -> torch.Tensor:
        return self.sp.pool(self.sp.fire(self.conv1(x), 15.0), 2)

    def hidden2(self, x: torch.Tensor) -> torch.Tensor:
        return self.sp.pool(self.sp.fire(self.conv2(x), 10.0), 3)

    def prepare(self, n_times: int, n_cache: int, n_phase: dict[str, int], batch: int) -> None:
        self.coded = torch.cat([self.code(self.images[s:e]) for s, e in chunks(n_times, batch)])
        self.stdp(self.conv1, self.coded, 15.0, 5, 3, n_phase["l1"], BATCHED, SCHEDULE["l1_epochs"])
        self.l1_out = torch.cat([self.hidden1(self.coded[s:e]) for s, e in chunks(n_cache, batch)])
        self.stdp(self.conv2, self.l1_out, 10.0, 8, 1, n_phase["l2"], BATCHED, SCHEDULE["l2_epochs"])
        self.l2_out = torch.cat([self.hidden2(self.l1_out[s:e]) for s, e in chunks(n_cache, batch)])
        self.work["conv1"], self.work["conv2"] = self.conv1, self.conv2

    def preprocess(self, n: int, batch: int) -> None:
        for start, stop in chunks(n, batch):
            self.code(self.images[start:stop])

    def stdp(self, conv: Any, data: torch.Tensor, threshold: float, k: int, radius: int, n: int, batch: int,
             epochs: int = 1) -> None:
        """``conv``'s STDP phase over the first ``n`` samples, ``epochs`` passes (the doubling schedule counts from 0
        over all of them)."""
        for epoch in range(epochs):
            for start, stop in chunks(n, batch):
                ap, am = sl.doubling_schedule(epoch * n + start, 0.004, every=PARAMS["doubling_every"],
                                              max_a_plus=PARAMS["max_a_plus"])
                conv.stdpconfig = [self.sp.STDPConfig(ap, am)]
                x = data[start:stop]
                out = self.sp.inhibit(self.sp.threshold(conv(x), threshold))
                conv.stdp(x, self.sp.convwta(out, radius, k), self.sp.fire(out))

    def l1(self, n: int, batch: int) -> None:
        self.stdp(self._restart("conv1"), self.coded, 15.0, 5, 3, n, batch)

    def l2(self, n: int, batch: int) -> None:
        self.stdp(self._restart("conv2"), self.l1_out, 10.0, 8, 1, n, batch)

    def _decide(self, conv3: Any, x: torch.Tensor) -> tuple[torch.Tensor, Any, torch.Tensor]:
        out = self.sp.infinite(conv3(x))
        winners = self.sp.convwta(out, 0, 1)
        per_class = out.size(2) // 10
        labels = torch.tensor([w[0].z // per_class if len(w) == 1 else -1 for w in winners])
        return labels, winners, out

    def l3(self, n: int, batch: int) -> None:
        conv3 = self._restart("conv3")
        for start, stop in chunks(n, batch):
            x = self.l2_out[start:stop]
            labels, winners, out = self._decide(conv3, x)
            for w, label, target in zip(winners, labels.tolist(), self.targets[start:stop].tolist()):
                if len(w) == 1:
                    w[0].c = int(label != target)  # 0: reward config, 1: punishment config
            conv3.stdp(x, winners, self.sp.fire(out))

    def inference(self, n: int, batch: int) -> None:
        for start, stop in chunks(n, batch):
            self._decide(self.conv3, self.hidden2(self.hidden1(self.coded[start:stop])))

    def end_to_end(self, n: int, batch: int) -> None:
        for start, stop in chunks(n, batch):
            self._decide(self.conv3, self.hidden2(self.hidden1(self.code(self.images[start:stop]))))


def import_spyker() -> Any:
    try:
        import spyker
    except ImportError as err:
        return f"spyker not installed ({err}); `pip install -c constraints.txt spyker==0.1.0`"
    return spyker


def schedule(costs: dict[str, float]) -> tuple[str, float]:
    """The formula of the Mozafari schedule's wall time from per-sample costs (ms) and its hours."""
    s = SCHEDULE
    n, v = s["samples"], s["val_samples"]
    per_sample = (costs["preprocess"] + s["l1_epochs"] * costs["l1_stdp"] + costs["cache_l1"]
                  + s["l2_epochs"] * costs["l2_stdp"] + costs["cache_l2"] + s["rstdp_epochs"] * costs["l3_rstdp"])
    val = v * (costs["val_last_step"] + s["rstdp_epochs"] * costs["val_decide"])
    hours = (n * per_sample + val) / 3.6e6
    formula = (f"{n} x (pre {costs['preprocess']:.3f} + {s['l1_epochs']} x L1 {costs['l1_stdp']:.3f} "
               f"+ cache1 {costs['cache_l1']:.3f} + {s['l2_epochs']} x L2 {costs['l2_stdp']:.3f} "
               f"+ cache2 {costs['cache_l2']:.3f} + {s['rstdp_epochs']} x L3 {costs['l3_rstdp']:.3f}) ms "
               f"+ {v} val x (last step {costs['val_last_step']:.3f} + {s['rstdp_epochs']} x decide "
               f"{costs['val_decide']:.3f}) ms")
    return formula, hours


def run_threads(threads: int, args: argparse.Namespace, images: torch.Tensor, targets: torch.Tensor,
                data: str, spyker: Any) -> list[dict[str, Any]]:
    torch.set_num_threads(threads)
    n = args.sizes
    impls: dict[str, Any] = {"snnkit": SnnkitImpl(images, targets)}
    if not isinstance(spyker, str):
        spyker.set_max_threads(threads)
        impls["spyker"] = SpykerImpl(spyker, images, targets)
    n_times = max(n["preprocess"], n["inference"], n["l1"])
    n_cache = max(n["l2"], n["l3"])
    phase = {"l1": n["l1"], "l2": n["l2"]}
    t0 = time.perf_counter()
    impls["snnkit"].prepare(n_times, n_cache, phase)
    if "spyker" in impls:
        impls["spyker"].prepare(n_times, n_cache, phase, args.spyker_batch)
    print(f"  {threads} thread(s): inputs and caches ready ({time.perf_counter() - t0:.0f} s)", flush=True)

    lb = PARAMS["learn_batch"]
    tasks = [("preprocess", "preprocess", min(1000, n["preprocess"]), n["preprocess"])]
    tasks += [("l1_stdp", "l1", b, n["l1"]) for b in (lb, BATCHED, 64)]
    tasks += [("l2_stdp", "l2", b, n["l2"]) for b in (lb, BATCHED)]
    tasks += [("l3_rstdp", "l3", b, n["l3"]) for b in (lb, BATCHED)]
    tasks += [("inference", "inference", min(PARAMS["eval_batch"], n["inference"]), n["inference"]),
              ("inference", "end_to_end", min(PARAMS["eval_batch"], n["inference"]), n["inference"])]
    # Spyker's float potentials are [B, T, F, H, W]: its large-batch passes run in chunks of spyker_batch
    spyker_batch = {"preprocess": args.spyker_batch, "inference": args.spyker_batch,
                    "end_to_end": args.spyker_batch}
    per_impl_tasks = {name: [(w, m, spyker_batch.get(m, b) if name == "spyker" else b, k) for w, m, b, k in tasks]
                      for name in impls}
    load_start = os.getloadavg()[0]
    res = measure(impls, per_impl_tasks, args.repeats, threads)
    load_avg = round((load_start + os.getloadavg()[0]) / 2, 2)

    records = []
    for name in impls:
        for workload, method, batch, count in per_impl_tasks[name]:
            if method == "end_to_end":
                continue
            ms = res[(name, method, batch)]
            rec = {"workload": workload, "impl": name, "device": "cpu", "model": MODEL, "ms_per_sample": ms,
                   "ratio_vs_original": ORIGINAL_MS[workload] / ms, "threads": threads, "batch": batch,
                   "n_samples": count, "data": data, "input": "28x28, T=15", "repeats": args.repeats,
                   "load_avg": load_avg}
            if workload in ("l1_stdp", "l2_stdp", "l3_rstdp"):
                rec["phase_start"] = f"the layer's first {count} samples from its seeded initial weights"
            if method == "inference":
                e2e = [(m, b) for w, m, b, _ in per_impl_tasks[name] if m == "end_to_end"][0]
                rec["end_to_end_ms_per_sample"] = res[(name, *e2e)]
            if name == "snnkit" and workload in ("l2_stdp", "l3_rstdp"):
                key = "cache_l1" if workload == "l2_stdp" else "cache_l2"
                rec["cache_ms_per_sample"] = impls["snnkit"].cache_ms[key]
            records.append(rec)
    for rec in records:
        if rec["impl"] != "snnkit":
            continue
        peer = next((r for r in records if r["impl"] == "spyker" and r["workload"] == rec["workload"]
                     and (r["batch"] == rec["batch"] or rec["workload"] in ("preprocess", "inference"))), None)
        if peer is not None:
            rec["vs_spyker"] = peer["ms_per_sample"] / rec["ms_per_sample"]
    main = {r["workload"]: r["ms_per_sample"] for r in records if r["impl"] == "snnkit" and paper_row(r)}
    formula, hours = schedule({**main, **impls["snnkit"].cache_ms})
    for rec in records:
        if rec["impl"] == "snnkit" and rec["workload"] == "inference":
            rec.update(schedule_formula=formula, schedule_hours=hours, schedule_target_hours=SCHEDULE_TARGET_H,
                       schedule_caching_ms_per_sample=impls["snnkit"].cache_ms)
    return records


def measure(impls: dict[str, Any], per_impl_tasks: dict[str, list[tuple[str, str, int, int]]], repeats: int,
            threads: int) -> dict[tuple[str, str, int], float]:
    """Median ms per sample of every (impl, method, batch); ``per_impl_tasks[impl]``: the same tasks for every
    impl, ``(workload, method, batch, n)``, with the impl's own batch. The impls take turns in every task."""
    samples: dict[tuple[str, str, int], list[float]] = {}
    t0 = time.perf_counter()
    n_tasks = len(next(iter(per_impl_tasks.values())))
    for i in range(n_tasks):  # warm-up: one small untimed pass of every task (kernel selection, allocations)
        for name, impl in impls.items():
            _, method, batch, n = per_impl_tasks[name][i]
            getattr(impl, method)(min(n, batch if batch < 100 else 100), batch)
    for rep in range(repeats):
        for i in range(n_tasks):
            for name, impl in impls.items():
                _, method, batch, n = per_impl_tasks[name][i]
                start = time.perf_counter()
                getattr(impl, method)(n, batch)
                samples.setdefault((name, method, batch), []).append((time.perf_counter() - start) * 1e3 / n)
        print(f"  {threads} thread(s): repeat {rep + 1}/{repeats} done ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    return {key: statistics.median(v) for key, v in samples.items()}


def snnkit_revision() -> str:
    """``git describe``-like revision of the working tree measured (``+dirty`` when it has local changes)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "snnkit"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def reported_records() -> list[dict[str, Any]]:
    """The original SpykeTorch's figures as records (not measured by this script)."""
    return [{"workload": w, "impl": "spyketorch_reported", "device": "cpu", "model": MODEL, "ms_per_sample": ms,
             "ratio_vs_original": 1.0, "threads": 2, "batch": None, "n_samples": None, "data": "mnist",
             "input": "28x28, T=15", "source": ORIGINAL_SOURCE} for w, ms in ORIGINAL_MS.items()]


def print_table(records: list[dict[str, Any]]) -> None:
    print(f"\n{'workload':<11} {'impl':<20} {'thr':>3} {'batch':>5} {'n':>5} {'ms/sample':>10} "
          f"{'orig/impl':>9} {'target':>6} {'met':>4} {'spyker/snnkit':>13}")
    print("-" * 94)
    for rec in records:
        target = TARGETS.get(rec["workload"]) if rec["impl"] == "snnkit" and paper_row(rec) else None
        met = "" if target is None else ("yes" if rec["ratio_vs_original"] >= target else "NO")
        vs = f"{rec['vs_spyker']:13.2f}" if "vs_spyker" in rec else f"{'':13}"
        print(f"{rec['workload']:<11} {rec['impl']:<20} {rec['threads']:>3} {rec['batch'] or '-':>5} "
              f"{rec['n_samples'] or '-':>5} {rec['ms_per_sample']:10.3f} {rec['ratio_vs_original']:9.2f} "
              f"{f'>={target:g}x' if target else '':>6} {met:>4} {vs}")
        if "end_to_end_ms_per_sample" in rec:
            e2e = rec["end_to_end_ms_per_sample"]
            print(f"{'  from images (preprocess + inference)':<52} {e2e:10.3f} "
                  f"{(ORIGINAL_MS['preprocess'] + ORIGINAL_MS['inference']) / e2e:9.2f}")
    print("orig/impl: SpykeTorch ms / impl ms (" + ORIGINAL_SOURCE + "); spyker/snnkit: > 1 = snnkit faster "
          f"(same threads and batch); targets judged at the paper profile's learn_batch {PARAMS['learn_batch']} "
          f"(online); batch {BATCHED}: the cpu profile's batched rule")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 threads, 1 repeat, small passes (< 1 min)")
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="torch (and Spyker) thread counts to run (default: 2 1; quick 2)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default: full 2, quick 1)")
    parser.add_argument("--spyker-batch", type=int, default=100,
                        help="Spyker's chunk for preprocess and inference (its potentials are [B, T, F, H, W] "
                             "floats; default 100)")
    parser.add_argument("--no-spyker", action="store_true", help="snnkit rows only")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "stdp.json")
    args = parser.parse_args(argv)
    threads = args.threads or ([2] if args.quick else [2, 1])
    args.repeats = args.repeats or (1 if args.quick else 2)
    if args.quick:
        args.sizes = {"preprocess": 200, "l1": 1000, "l2": 1000, "l3": 128,
                      "inference": 200}
    else:
        args.sizes = {"preprocess": 500, "l1": 4000, "l2": 4000, "l3": 1000,
                      "inference": 1000}
    spyker = "disabled (--no-spyker)" if args.no_spyker else import_spyker()
    if isinstance(spyker, str):
        print(f"note: no spyker rows: {spyker}")
    n_images = max(v for v in args.sizes.values() if isinstance(v, int))
    images, targets, data = load_images(n_images)
    t0 = time.perf_counter()
    print(f"{MODEL}, MNIST 28x28, T={T}, data {data}; threads {threads}, median of {args.repeats} interleaved "
          f"repeat(s); load average {os.getloadavg()[0]:.2f} at start ({os.cpu_count()} CPUs)", flush=True)
    records = reported_records()
    for n_threads in threads:
        records += run_threads(n_threads, args, images, targets, data, spyker)
    revision = snnkit_revision()
    for rec in records:
        if rec["impl"] == "snnkit":
            rec["revision"] = revision
        elif rec["impl"] == "spyker":
            rec["version"] = importlib.metadata.version("spyker")
    if isinstance(spyker, str):
        for rec in records:
            if rec["impl"] == "snnkit":
                rec["spyker"] = spyker
    print_table(records)
    for rec in records:
        if rec["impl"] == "snnkit" and rec["workload"] == "inference":
            ok = "met" if rec["schedule_hours"] <= SCHEDULE_TARGET_H else "MISSED"
            print(f"\nMozafari schedule, {rec['threads']} thread(s): {rec['schedule_formula']}\n"
                  f"  = {rec['schedule_hours']:.2f} h (target <= {SCHEDULE_TARGET_H:g} h: {ok}; "
                  f"SpykeTorch extrapolated 7.9 h)")
    print(f"\nbenchmark wall time {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.2f} at end")
    write_records(args.out, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

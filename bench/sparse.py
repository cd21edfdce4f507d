"""Benchmark: a training step of the sparse (masked) G2GNet vs the dense one, the Hebbian bookkeeping of
dynamic sparse training, the DST event itself, and a CSR sparse matmul in place of the masked dense one.

G2GNet (Konstantaropoulos, Smirnakis & Papadopouli, arXiv 2508.14140; ``shared/papers/g2gnet.md``) at the
paper's shape: batch 256, T = 50, 784 → 3 × 2048 (+ LIF) → 10 (+ LIF), current encoding, Adam lr 1e-3 /
weight decay 1e-4, cross-entropy on the output spike counts. Workloads and implementations:

``train_step`` (forward + loss + backward + Adam step, ``ms``):

- ``dense``: ``snnkit.models.G2GNet`` with ``nn.Linear`` hidden layers.
- ``masked``: the same with ``snnkit.sparse.MaskedLinear`` hidden layers (mixer masks, 8 groups,
  p_intra 1, p_inter 0.15: 25.6 % density), i.e. a dense matmul with ``W ⊙ M``.
- ``masked_hebbian``: ``masked`` plus dynamic sparse training's Hebbian bookkeeping on that step: the
  Trainer's activity hooks (``ActivityRecorder`` on the watched layers and LIFs) and
  ``DynamicSparseTraining.on_step_end`` on a step that updates the co-activity statistics
  (``CoactivityWindow.update``: ``postᵀ·pre`` on the training device) but holds no event. With the paper's
  settings (an event every 1000 steps, window 1) the statistics are updated on 1 step in 1000; this
  workload is that step (and every step of a run that updates them every step, as the original did); the
  amortised overhead is printed too.
- ``sparse_matmul``: the masked network with each hidden layer as a ``torch.sparse_csr_tensor`` of its
  active weights (a ``[nnz]`` parameter; Adam updates only those) multiplied by ``torch.sparse.mm``; autograd
  supports it, so the step is forward AND backward (CSR @ dense forward, dense @ CSR and a sampled product
  for the weight gradient backward).

``dst_event`` (``ms``, impl ``masked_hebbian``): one ``DynamicSparseTraining.rewire`` (prune ``set``, grow
``hebb``, fraction 0.1, regrown weights zero, optimiser state of pruned entries cleared) on all three
hidden layers, with the statistics of the last bookkeeping step.

``layer_matmul`` (``fwd_ms``, ``fwd_bwd_ms``, impls ``masked`` and ``sparse_matmul``): the fc2 product alone
(``[T·B, 2048] × [2048, 2048]ᵀ`` at the mask's density), to see the matmul without the LIF work around it.

Median over repeats after warm-up, the implementations taking turns in every repeat so that load from
other processes hits them alike; the load average is printed and recorded. Before timing, the CSR network
is checked to give the masked one's spike counts (same weights). The JSON records (``reports/bench/sparse.json``)
use the format of the other benchmarks; records of one workload and device come from one run, so a
``--quick`` run replaces the full run's records (their ``shape`` field says which).

    python bench/sparse.py --quick   # B=64, hidden=512, T=20: about a minute on a small CPU
    python bench/sparse.py           # paper shape; on this 2-core CPU several minutes (1 thread)
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import add_run_args, describe_device, select_impls, timed, write_records  # noqa: E402
from snnkit.models.g2g import G2GNet, spike_count_loss  # noqa: E402
from snnkit.sparse import (  # noqa: E402
    DynamicSparseTraining,
    MaskedLinear,
    build_masks,
    density,
    masked_layer_factory,
)
from snnkit.train.activity import ActivityRecorder  # noqa: E402

IN_FEATURES = 784
N_CLASSES = 10


class CSRLinear(nn.Module):
    """A masked linear layer stored as CSR: ``values`` ``[nnz]`` is the parameter, the sparsity pattern
    (``crow``, ``col``) a buffer; ``y = (W_csr @ xᵀ)ᵀ + b`` by ``torch.sparse.mm`` (autograd-capable)."""

    def __init__(self, layer: MaskedLinear) -> None:
        super().__init__()
        # the pattern is the mask's (also where an active weight happens to be exactly zero)
        pattern = layer.mask.to(layer.weight.dtype).to_sparse_csr()
        self.register_buffer("crow", pattern.crow_indices())
        self.register_buffer("col", pattern.col_indices())
        self.values = nn.Parameter(layer.weight.detach()[layer.mask].clone())  # row-major order = CSR order
        self.bias = nn.Parameter(layer.bias.detach().clone())
        self.shape = tuple(layer.mask.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.sparse_csr_tensor(self.crow, self.col, self.values, self.shape)
        flat = x.reshape(-1, x.shape[-1])
        out = torch.sparse.mm(w, flat.T).T + self.bias
        return out.reshape(*x.shape[:-1], self.shape[0])


def g2gnet(hidden: int, n_hidden: int, T: int, masks: list[torch.Tensor] | None, seed: int) -> G2GNet:
    torch.manual_seed(seed)
    factory = masked_layer_factory(masks) if masks is not None else None
    return G2GNet(IN_FEATURES, N_CLASSES, hidden_dim=hidden, n_hidden=n_hidden, T=T, layer_factory=factory)


def csr_copy(model: G2GNet) -> G2GNet:
    """A copy of a masked G2GNet with every ``MaskedLinear`` hidden layer as :class:`CSRLinear`."""
    out = copy.deepcopy(model)
    out.layers = nn.ModuleList(CSRLinear(layer) for layer in model.layers)
    return out


def adam(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)


@dataclass
class Impl:
    """A network under test and what one of its training steps does."""

    model: nn.Module
    opt: torch.optim.Optimizer
    after_step: Callable[[], None] | None = None  # e.g. the DST callback's bookkeeping
    before_forward: Callable[[], None] | None = None


def train_step(impl: Impl, x: torch.Tensor, y: torch.Tensor) -> None:
    impl.opt.zero_grad(set_to_none=True)
    if impl.before_forward is not None:
        impl.before_forward()
    loss = spike_count_loss(impl.model(x), y)
    loss.backward()
    impl.opt.step()
    if impl.after_step is not None:
        impl.after_step()


def hebbian_impl(model: G2GNet) -> tuple[Impl, DynamicSparseTraining, Callable[[], None], list[float]]:
    """``model`` with the DST callback's Hebbian bookkeeping after every step, the event itself, and the
    list the bookkeeping's own duration (ms) is appended to at every step.

    ``every=2, window=2`` makes every odd step a recording step without an event (``_records_step`` is
    true on every step when ``window >= every``); the bookkeeping runs with ``global_step`` 1, the event
    (:meth:`DynamicSparseTraining.rewire`) is timed on its own.
    """
    opt = adam(model)
    dst = DynamicSparseTraining(every=2, window=2, prune="set", grow="hebb", fraction=0.1, seed=0)
    recorder = ActivityRecorder(model, dst.watch(model))
    trainer = types.SimpleNamespace(global_step=1, activity={}, optimizer=opt)

    def before_forward() -> None:
        recorder.clear()
        recorder.recording = True

    bookkeeping: list[float] = []
    device = next(model.parameters()).device

    def update() -> None:
        dst.on_step_end(trainer)  # step 1: statistics updated, no event (1 % 2 != 0)

    def after_step() -> None:
        recorder.recording = False
        trainer.activity = recorder.activity
        bookkeeping.append(timed(update, device))
        trainer.activity = {}
        recorder.clear()

    def event() -> None:
        dst.rewire(opt, step=2)

    return Impl(model, opt, after_step, before_forward), dst, event, bookkeeping


def check_csr(masked: G2GNet, csr: G2GNet, x: torch.Tensor) -> None:
    """The CSR network must give the masked one's spikes (same weights): every LIF layer's spike count is
    compared (the output layer alone is often silent at initialisation, which would make the check vacuous).
    Printed, not asserted: the two products may round differently, flipping a spike right at threshold."""
    counts: dict[str, list[float]] = {"masked": [], "csr": []}
    hooks = [lif.register_forward_hook(lambda m, i, out, key=key: counts[key].append(out.sum().item()))
             for key, net in (("masked", masked), ("csr", csr)) for lif in [*net.neurons, net.lif_out]]
    try:
        with torch.no_grad():
            masked(x)
            csr(x)
    finally:
        for hook in hooks:
            hook.remove()
    same = counts["masked"] == counts["csr"]
    print(f"CSR check (masked vs sparse_matmul, same weights): spike counts per layer "
          f"{'IDENTICAL' if same else 'DIFFERENT'}: {counts['masked']} vs {counts['csr']}")


def layer_matmul(masked_layer: MaskedLinear, csr_layer: CSRLinear, n_rows: int, repeats: int,
                 warmup: int) -> dict[str, dict[str, float]]:
    """fc2 alone: forward and forward+backward of ``[n_rows, in] → [n_rows, out]``, masked dense vs CSR."""
    device = masked_layer.weight.device
    x = (torch.rand(n_rows, masked_layer.in_features, device=device) < 0.05).float()  # spike-like input
    x.requires_grad_(True)
    layers = {"masked": masked_layer, "sparse_matmul": csr_layer}

    def fwd(layer: nn.Module) -> None:
        with torch.no_grad():
            layer(x)

    def fwd_bwd(layer: nn.Module) -> None:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x).sum().backward()

    out: dict[str, dict[str, float]] = {name: {} for name in layers}
    for key, fn in (("fwd_ms", fwd), ("fwd_bwd_ms", fwd_bwd)):
        samples: dict[str, list[float]] = {name: [] for name in layers}
        for layer in layers.values():
            for _ in range(warmup):
                fn(layer)
        for _ in range(repeats):
            for name, layer in layers.items():
                samples[name].append(timed(lambda layer=layer, fn=fn: fn(layer), device))
        for name in layers:
            out[name][key] = statistics.median(samples[name])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="B=64, hidden=512, T=20: about a minute on CPU")
    parser.add_argument("--B", type=int, default=None, help="batch size (default 256; quick 64)")
    parser.add_argument("--hidden", type=int, default=None, help="hidden width (default 2048; quick 512)")
    parser.add_argument("--T", type=int, default=None, help="time steps (default 50; quick 20)")
    parser.add_argument("--n-hidden", type=int, default=3, help="hidden layers (default 3)")
    parser.add_argument("--p-inter", type=float, default=0.15, help="inter-group probability (default 0.15)")
    parser.add_argument("--groups", type=int, default=8, help="groups per layer side (default 8)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default: quick 5, full 3)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps per impl (default: quick 2, full 1)")
    add_run_args(parser, "sparse.json", device_help="cpu, cuda, ... (default cpu; CSR on CUDA is untested)",
                 impls_help="subset of train_step implementations")
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore", message=".*[Ss]parse.*")  # torch's "CSR support is in beta" notes
    device = torch.device(args.device)
    batch = args.B or (64 if args.quick else 256)
    hidden = args.hidden or (512 if args.quick else 2048)
    steps = args.T or (20 if args.quick else 50)
    repeats = args.repeats or (5 if args.quick else 3)
    warmup = args.warmup if args.warmup is not None else (2 if args.quick else 1)
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = f"B{batch}_H{hidden}_T{steps}_L{args.n_hidden}"
    load_start = os.getloadavg()[0]

    masks = build_masks("mixer", [IN_FEATURES] + [hidden] * args.n_hidden, groups=args.groups,
                        p_inter=args.p_inter, seed=0)
    dens = density(masks)
    masked = g2gnet(hidden, args.n_hidden, steps, masks, seed=0).to(device)
    csr = csr_copy(masked).to(device)
    hebb_model = g2gnet(hidden, args.n_hidden, steps, masks, seed=0).to(device)
    dense = g2gnet(hidden, args.n_hidden, steps, None, seed=0).to(device)
    hebb, dst, event, bookkeeping = hebbian_impl(hebb_model)
    candidates: dict[str, Impl | str] = {
        "dense": Impl(dense, adam(dense)),
        "masked": Impl(masked, adam(masked)),
        "masked_hebbian": hebb,
        "sparse_matmul": Impl(csr, adam(csr)),
    }
    impls: dict[str, Impl] = select_impls(candidates, args.impls)

    torch.manual_seed(1)
    x = torch.rand(batch, IN_FEATURES, device=device)
    y = torch.randint(0, N_CLASSES, (batch,), device=device)
    check_csr(masked, csr, x)
    print(f"G2GNet training step, {shape}, mixer masks {args.groups} groups p_inter {args.p_inter} "
          f"(density {dens:.1%}), {describe_device(device)}, median of {repeats} interleaved repeats "
          f"after {warmup} warm-up; load average {load_start:.2f} at start", flush=True)

    t0 = time.perf_counter()
    samples: dict[str, list[float]] = {name: [] for name in impls}
    for impl in impls.values():
        for _ in range(warmup):
            train_step(impl, x, y)
    for rep in range(repeats):
        for name, impl in impls.items():
            samples[name].append(timed(lambda impl=impl: train_step(impl, x, y), device))
        print(f"  train_step: repeat {rep + 1}/{repeats} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    step_ms = {name: statistics.median(v) for name, v in samples.items()}

    event_ms = None
    if "masked_hebbian" in impls:
        before = [layer.mask.sum().item() for layer in dst.layers.values()]
        event_ms = statistics.median([timed(event, device) for _ in range(repeats)])
        after = [layer.mask.sum().item() for layer in dst.layers.values()]
        assert before == after, f"DST changed the number of active connections: {before} → {after}"
        rewired = [e["pruned"] for e in dst.events[-len(dst.layers):]]
        print(f"  dst_event: {len(dst.layers)} layers, {rewired} connections pruned and grown per layer")

    matmul = layer_matmul(masked.layers[1], csr.layers[1], batch * steps, repeats, warmup) \
        if args.n_hidden > 1 else {}
    wall = time.perf_counter() - t0
    load_end = os.getloadavg()[0]

    common = {"device": str(device), "shape": shape, "density": dens, "threads": torch.get_num_threads(),
              "repeats": repeats, "load_avg": round((load_start + load_end) / 2, 2)}
    records = [{"workload": "train_step", "impl": name, **common, "ms": ms, "ms_per_sample": ms / batch}
               for name, ms in step_ms.items()]
    hebb_ms = statistics.median(bookkeeping[-repeats:]) if "masked_hebbian" in impls else None
    for rec in records:
        if rec["impl"] == "masked_hebbian":
            rec["bookkeeping_ms"] = hebb_ms  # DynamicSparseTraining.on_step_end alone, within the step
    if event_ms is not None:
        records.append({"workload": "dst_event", "impl": "masked_hebbian", **common, "ms": event_ms,
                        "rule": "prune set, grow hebb, fraction 0.1"})
    records += [{"workload": "layer_matmul", "impl": name, **common, "fwd_ms": r["fwd_ms"],
                 "fwd_bwd_ms": r["fwd_bwd_ms"], "rows": batch * steps} for name, r in matmul.items()]

    print(f"\n{'workload':<13} {'impl':<15} {'ms':>11}")
    print("-" * 41)
    for rec in records:
        if "ms" in rec:
            print(f"{rec['workload']:<13} {rec['impl']:<15} {rec['ms']:11.1f}")
    for rec in records:
        if rec["workload"] == "layer_matmul":
            print(f"layer_matmul  {rec['impl']:<15} fwd {rec['fwd_ms']:9.1f}  fwd+bwd {rec['fwd_bwd_ms']:9.1f}")

    def ratio(a: str, b: str) -> float:
        return step_ms[a] / step_ms[b] if a in step_ms and b in step_ms else float("nan")

    print("\nratios")
    print(f"  masked / dense step:              {ratio('masked', 'dense'):.3f}  (the sparse model's step vs the dense)")
    print(f"  sparse_matmul / masked step:      {ratio('sparse_matmul', 'masked'):.3f}  (> 1: CSR is slower)")
    print(f"  sparse_matmul / dense step:       {ratio('sparse_matmul', 'dense'):.3f}")
    if event_ms is not None and "masked" in step_ms:
        print(f"  dst_event / masked step:          {event_ms / step_ms['masked']:.3f}  (< 1: an event costs "
              f"less than a step)")
    if "masked_hebbian" in step_ms and "masked" in step_ms:
        over = hebb_ms / step_ms["masked"] * 100.0
        diff = (step_ms["masked_hebbian"] / step_ms["masked"] - 1.0) * 100.0
        print(f"  Hebbian overhead on a recording step: {over:+.1f} %  (its bookkeeping, {hebb_ms:.1f} ms, timed "
              f"alone / masked step; step difference {diff:+.1f} %, noisier); amortised over an event every "
              f"1000 steps with window 1 (the statistics are updated only on the window's steps): {over / 1000:+.3f} %")
    if matmul:
        m, s = matmul["masked"], matmul["sparse_matmul"]
        print(f"  fc2 matmul CSR / masked dense:    fwd {s['fwd_ms'] / m['fwd_ms']:.2f}, "
              f"fwd+bwd {s['fwd_bwd_ms'] / m['fwd_bwd_ms']:.2f}  (> 1: CSR is slower)")
    print(f"benchmark wall time {wall:.1f} s; load average {load_start:.2f} at start, {load_end:.2f} at end "
          f"({os.cpu_count()} CPUs)")
    write_records(args.out, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

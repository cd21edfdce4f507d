"""Benchmark: one dense G2GNet training step, snnkit vs snnTorch (and SpikingJelly / Norse if installed).

The hot path of the dense G2GNet notebook's training (``shared/papers/g2gnet.md``, "Network"): input 784 →
``n_hidden`` × (Linear ``hidden`` + LIF) → Linear 10 + LIF, current encoding, β = 0.9 and θ = 1.0 learnable,
subtract reset, arctan surrogate α = 2; output = spike count over ``T`` steps, cross-entropy on the counts.
``fwd_ms``: one forward pass under ``torch.no_grad``; ``fwd_bwd_ms``: one full training step (forward,
loss, backward, Adam lr 1e-3 / weight decay 1e-4); ``ms_per_sample`` = ``fwd_bwd_ms`` / B. Median over
repeats after warm-up, the implementations taking turns in every repeat so that load from other processes
hits them alike. ``peak_delta_mb``: as in ``bench/lif.py`` (RSS peak during one training step minus RSS
before it; on CUDA the peak of ``max_memory_allocated`` minus the allocation before).

Implementations:

- ``snnkit``: ``snnkit.models.G2GNet`` as is (fused multi-step LIF; the first layer's product computed once
  and broadcast over T, since the current-encoded input is the same at every step).
- ``snntorch``: the authors' style — ``nn.Linear`` + ``snntorch.Leaky(learn_beta, learn_threshold, atan α=2,
  subtract)`` stepped in a Python loop over T, the input current fed (and fc1 applied) at every step, the
  output spikes summed. Same equations as snnkit, so identical weights give identical spike counts
  (checked below, up to float rounding of batched vs per-step matmuls).
- ``spikingjelly``: multi-step mode (``layer.Linear`` + ``neuron.ParametricLIFNode``, ``step_mode='m'``,
  ``surrogate.ATan(alpha=2)``), input repeated over T, ``reset_net`` before every call. SpikingJelly 2.x
  has no ``backend`` argument here: it dispatches by device, on CPU to its registered op (a torch loop over
  T without a per-step autograd graph, plus a hand-written backward), on CUDA to its native/Triton kernels.
  ``init_tau=10``, ``decay_input=False`` gives the same leak m = 0.9·m + x with a learnable decay
  (sigmoid-parametrised, not β itself). Differences: θ = 1 is fixed (not learnable); the soft reset
  subtracts θ in the step that fires (v = h - s·θ), so the subtraction is decayed by β at the next step
  (snnTorch subtracts θ undecayed one step later, from the previous spike); spikes fire at h ≥ θ
  (snnTorch: m > θ). The same work per step, not the identical trajectory.
- ``norse`` (optional): ``LIFBoxCell`` in a Python loop with ``dt·τ_mem_inv = 0.1`` and the input current
  scaled by 10 (so m = 0.9·m + x), ``reset_subtract`` (same-step, like SpikingJelly), fixed β and θ, and
  Norse's SuperSpike surrogate (Norse has no arctan surrogate).

    python bench/g2g_dense.py --quick     # B=64, hidden=256, T=20: under a minute on a small CPU
    python bench/g2g_dense.py             # paper setting B=256, hidden=2048, T=50 (meant for a GPU)
    python bench/g2g_dense.py --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    add_run_args,
    describe_device,
    peak_delta_mb,
    print_ratio_table,
    select_impls,
    timed,
    write_records,
)
from snnkit.models.g2g import G2GNet, spike_count_loss  # noqa: E402
from snnkit.neurons.surrogate import ATan  # noqa: E402

IN_FEATURES = 784
N_CLASSES = 10
BETA = 0.9
THRESHOLD = 1.0
ALPHA = 2.0


@dataclass
class Impl:
    """A network under test: ``counts(x) -> [B, n_classes]`` spike counts, plus its optimiser."""

    model: nn.Module
    counts: Callable[[torch.Tensor], torch.Tensor]
    opt: torch.optim.Optimizer


class SnnTorchG2G(nn.Module):
    """The dense G2GNet written the snnTorch way (one ``Leaky`` step per layer per time step)."""

    def __init__(self, hidden: int, n_hidden: int, T: int) -> None:
        super().__init__()
        import snntorch

        sizes = [IN_FEATURES] + [hidden] * n_hidden + [N_CLASSES]
        self.T = T
        self.fcs = nn.ModuleList(nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1))
        self.lifs = nn.ModuleList(
            snntorch.Leaky(
                beta=BETA,
                threshold=THRESHOLD,
                learn_beta=True,
                learn_threshold=True,
                spike_grad=snntorch.surrogate.atan(alpha=ALPHA),
                reset_mechanism="subtract",
            )
            for _ in range(len(sizes) - 1)
        )

    def forward(self, x: torch.Tensor, layer_counts: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Output spike counts ``[B, 10]``; every layer's counts are appended to ``layer_counts`` if given."""
        x = x.flatten(1)
        mems: list[torch.Tensor | None] = [None] * len(self.lifs)
        counts: list[torch.Tensor | None] = [None] * len(self.lifs)
        for _ in range(self.T):
            h = x  # current encoding: the same input current at every step
            for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                cur = fc(h)
                mem = mems[i] if mems[i] is not None else torch.zeros_like(cur)
                h, mems[i] = lif(cur, mem)
                if i == len(self.lifs) - 1 or layer_counts is not None:
                    counts[i] = h if counts[i] is None else counts[i] + h
        if layer_counts is not None:
            layer_counts.extend(counts)
        return counts[-1]


def _spikingjelly_net(hidden: int, n_hidden: int) -> nn.Module:
    from spikingjelly.activation_based import layer, neuron, surrogate

    sizes = [IN_FEATURES] + [hidden] * n_hidden + [N_CLASSES]
    mods: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        mods.append(layer.Linear(sizes[i], sizes[i + 1], step_mode="m"))
        mods.append(
            neuron.ParametricLIFNode(
                init_tau=1.0 / (1.0 - BETA),
                decay_input=False,
                v_threshold=THRESHOLD,
                v_reset=None,
                surrogate_function=surrogate.ATan(alpha=ALPHA),
                detach_reset=True,
                step_mode="m",
            )
        )
    return nn.Sequential(*mods)


class NorseG2G(nn.Module):
    """The dense G2GNet with Norse ``LIFBoxCell``s stepped in a Python loop."""

    def __init__(self, hidden: int, n_hidden: int, T: int, dt: float = 1e-3) -> None:
        super().__init__()
        import norse.torch as norse
        from norse.torch.functional.reset import reset_subtract

        sizes = [IN_FEATURES] + [hidden] * n_hidden + [N_CLASSES]
        self.T = T
        tau_mem_inv = (1.0 - BETA) / dt
        self.in_scale = 1.0 / (dt * tau_mem_inv)  # m + dt·τ⁻¹·(s·x - m) = β·m + x
        params = norse.LIFBoxParameters(
            tau_mem_inv=torch.tensor(tau_mem_inv),
            v_th=torch.tensor(THRESHOLD),
            v_reset=torch.tensor(0.0),
            reset_method=reset_subtract,
        )
        self.fcs = nn.ModuleList(nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1))
        self.cells = nn.ModuleList(norse.LIFBoxCell(params, dt=dt) for _ in range(len(sizes) - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        states: list[object] = [None] * len(self.cells)
        total = None
        for _ in range(self.T):
            h = x
            for i, (fc, cell) in enumerate(zip(self.fcs, self.cells)):
                h, states[i] = cell(fc(h) * self.in_scale, states[i])
            total = h if total is None else total + h
        return total


def make_impls(hidden: int, n_hidden: int, T: int, device: torch.device) -> dict[str, Impl | str]:
    """impl name → :class:`Impl` (or a string saying why it is skipped). Fresh seeded init for each."""

    def adam(model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)

    impls: dict[str, Impl | str] = {}
    torch.manual_seed(0)
    ours = G2GNet(
        IN_FEATURES,
        N_CLASSES,
        hidden_dim=hidden,
        n_hidden=n_hidden,
        T=T,
        enc="current",
        beta=BETA,
        threshold=THRESHOLD,
        learn_beta=True,
        learn_threshold=True,
        reset="subtract",
        surrogate=ATan(alpha=ALPHA),
    ).to(device)
    impls["snnkit"] = Impl(ours, ours, adam(ours))
    try:
        torch.manual_seed(0)
        snt = SnnTorchG2G(hidden, n_hidden, T).to(device)
        impls["snntorch"] = Impl(snt, snt, adam(snt))
    except Exception as err:  # noqa: BLE001 - any import failure means "skip this peer"
        impls["snntorch"] = f"import failed: {err!r}"
    try:
        from spikingjelly.activation_based import functional as sj_functional

        torch.manual_seed(0)
        sj = _spikingjelly_net(hidden, n_hidden).to(device)

        def run_sj(x: torch.Tensor, net: nn.Module = sj) -> torch.Tensor:
            sj_functional.reset_net(net)
            x_seq = x.flatten(1).unsqueeze(0).repeat(T, 1, 1)
            return net(x_seq).sum(0)

        impls["spikingjelly"] = Impl(sj, run_sj, adam(sj))
    except Exception as err:  # noqa: BLE001
        impls["spikingjelly"] = f"import failed: {err!r}"
    try:
        torch.manual_seed(0)
        nor = NorseG2G(hidden, n_hidden, T).to(device)
        impls["norse"] = Impl(nor, nor, adam(nor))
    except Exception as err:  # noqa: BLE001
        impls["norse"] = f"import failed: {err!r}"
    return impls


def train_step(impl: Impl, x: torch.Tensor, y: torch.Tensor) -> None:
    impl.opt.zero_grad(set_to_none=True)
    loss = spike_count_loss(impl.counts(x), y)
    loss.backward()
    impl.opt.step()


def forward_only(impl: Impl, x: torch.Tensor) -> None:
    with torch.no_grad():
        impl.counts(x)


def check_shapes(impls: dict[str, Impl], x: torch.Tensor) -> None:
    """All implementations must map ``[B, 784]`` to ``[B, 10]`` counts; raises otherwise."""
    shapes = {}
    with torch.no_grad():
        for name, impl in impls.items():
            shapes[name] = tuple(impl.counts(x).shape)
    expected = (x.shape[0], N_CLASSES)
    bad = {name: s for name, s in shapes.items() if s != expected}
    if bad:
        raise RuntimeError(f"output shapes differ from {expected}: {bad}")
    print(f"output shapes: all {expected}")


def check_spike_counts(ours: G2GNet, peer: SnnTorchG2G, x: torch.Tensor) -> None:
    """Copy snnkit's weights into the snnTorch net and compare every layer's spike counts on one batch.

    Printed, not asserted: batched ([T·B, N]) and per-step ([B, N]) matmuls may round differently, which
    can flip a spike right at threshold. All layers are compared because at initialisation the output
    layer is often silent, which alone would make the check vacuous.
    """
    ours_lifs = [*ours.neurons, ours.lif_out]
    ours_counts: list[torch.Tensor] = []
    hooks = [lif.register_forward_hook(lambda m, i, out: ours_counts.append(out.sum(0))) for lif in ours_lifs]
    peer_counts: list[torch.Tensor] = []
    try:
        with torch.no_grad():
            for src, dst in zip([*ours.layers, ours.fc_out], peer.fcs):
                dst.weight.copy_(src.weight)
                dst.bias.copy_(src.bias)
            for src, dst in zip(ours_lifs, peer.lifs):
                dst.beta.copy_(src.beta)
                dst.threshold.copy_(src.threshold)
            ours(x)
            peer(x, layer_counts=peer_counts)
    finally:
        for hook in hooks:
            hook.remove()
    all_same = True
    parts = []
    for i, (a, b) in enumerate(zip(ours_counts, peer_counts)):
        diff = (a - b).abs()
        all_same &= bool(torch.equal(a, b))
        name = "out" if i == len(ours_counts) - 1 else f"h{i + 1}"
        parts.append(
            f"{name}: {a.sum().item():.0f} vs {b.sum().item():.0f} spikes, "
            f"{(diff > 0).float().mean().item() * 100:.2f}% differ"
        )
    verdict = "IDENTICAL in every layer" if all_same else "DIFFERENT"
    print(f"spike-count check (snnkit vs snntorch, same weights, B={x.shape[0]}): {verdict}")
    print("  " + "; ".join(parts))


def run_benchmarks(
    impls: dict[str, Impl], x: torch.Tensor, y: torch.Tensor, warmup: int, repeats: int
) -> dict[str, dict[str, float]]:
    device = x.device
    results: dict[str, dict[str, float]] = {name: {} for name in impls}
    for key, step in (("fwd_ms", forward_only), ("fwd_bwd_ms", lambda i, xx: train_step(i, xx, y))):
        samples: dict[str, list[float]] = {name: [] for name in impls}
        for impl in impls.values():
            for _ in range(warmup):
                step(impl, x)
        for rep in range(repeats):
            for name, impl in impls.items():
                samples[name].append(timed(lambda impl=impl, step=step: step(impl, x), device))
            print(f"  {key}: repeat {rep + 1}/{repeats} done", flush=True)
        for name in impls:
            results[name][key] = statistics.median(samples[name])
    for name, impl in impls.items():
        results[name]["peak_delta_mb"] = peak_delta_mb(lambda impl=impl: train_step(impl, x, y), device)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="B=64, hidden=256, T=20: under a minute on CPU")
    parser.add_argument("--B", type=int, default=None, help="batch size (default 256; quick 64)")
    parser.add_argument("--hidden", type=int, default=None, help="hidden width (default 2048; quick 256)")
    parser.add_argument("--T", type=int, default=None, help="time steps (default 50; quick 20)")
    parser.add_argument("--n-hidden", type=int, default=3, help="hidden layers (default 3)")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed repeats (default: quick 10; full 7 on GPU, 2 on CPU)"
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="warm-up runs per impl (default 2; CPU full 1)"
    )
    add_run_args(parser, "g2g_dense.json")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    batch = args.B or (64 if args.quick else 256)
    hidden = args.hidden or (256 if args.quick else 2048)
    steps = args.T or (20 if args.quick else 50)
    heavy_cpu = device.type == "cpu" and not args.quick and batch * hidden * steps >= 256 * 1024 * 25
    repeats = args.repeats or (10 if args.quick else (2 if heavy_cpu else 7))
    warmup = args.warmup if args.warmup is not None else (1 if heavy_cpu else 2)
    if args.threads:
        torch.set_num_threads(args.threads)
    if heavy_cpu:
        print(
            f"note: the full setting is meant for a GPU (--device cuda); on CPU one training step takes "
            f"seconds to tens of seconds per implementation, so only {repeats} repeat(s), {warmup} warm-up"
        )
    workload = f"B{batch}_H{hidden}_T{steps}_L{args.n_hidden}"

    torch.manual_seed(1)
    x = torch.rand(batch, IN_FEATURES, device=device)
    y = torch.randint(0, N_CLASSES, (batch,), device=device)
    impls: dict[str, Impl] = select_impls(make_impls(hidden, args.n_hidden, steps, device), args.impls)
    check_shapes(impls, x)
    if "snnkit" in impls and "snntorch" in impls:
        guard = SnnTorchG2G(hidden, args.n_hidden, steps).to(device)  # a copy: the timed nets stay untouched
        check_spike_counts(impls["snnkit"].model, guard, x)
        del guard

    print(
        f"dense G2GNet training step, {workload}, {describe_device(device)}, "
        f"median of {repeats} interleaved repeats",
        flush=True,
    )
    t0 = time.perf_counter()
    results = run_benchmarks(impls, x, y, warmup, repeats)
    records = [
        {
            "workload": workload,
            "impl": name,
            "device": str(device),
            "fwd_ms": res["fwd_ms"],
            "fwd_bwd_ms": res["fwd_bwd_ms"],
            "ms_per_sample": res["fwd_bwd_ms"] / batch,
            "peak_delta_mb": res["peak_delta_mb"],
        }
        for name, res in results.items()
    ]

    print_ratio_table(
        records,
        [
            ("fwd_ms", "fwd_ms", "10.2f"),
            ("fwd_bwd_ms", "fwd_bwd_ms", "11.2f"),
            ("ms_per_sample", "ms/sample", "10.3f"),
            ("peak_delta_mb", "peak_delta_mb", "14.1f"),
        ],
        footnote="ratio = peer time / snnkit time (> 1: snnkit is faster); fwd = no_grad forward; fwd_bwd = "
        "forward + loss + backward + Adam step; peak_delta_mb: "
        + ("CUDA max allocated" if device.type == "cuda" else "RSS")
        + f" during one training step. Benchmark wall time {time.perf_counter() - t0:.1f} s",
    )
    write_records(args.out, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: a multi-step LIF layer, snnkit vs snnTorch ``Leaky`` (and SpikingJelly / Norse if installed).

Workload: input current ``[T, B, N]`` → LIF → spikes; ``fwd_ms`` is one forward pass with autograd on
(as in training), ``fwd_bwd_ms`` forward plus backward of ``(spikes * w).sum()`` w.r.t. the input and the
learnable β, θ. Median over repeats after warm-up. ``peak_delta_mb``: peak resident memory (RSS, sampled by
a background thread every ~0.5 ms) during one forward+backward, minus RSS just before it (on CUDA: the
peak of ``torch.cuda.max_memory_allocated`` minus the allocation before). The implementations take turns in
every repeat so that load from other processes affects them alike. ``saved_mb``: the distinct storages
autograd saves for backward in one forward (activation memory; deterministic).

Settings: β = 0.9, θ = 1, subtract reset with detached reset, arctan surrogate α = 2 (G2GNet's LIF). snnkit and
snnTorch learn β and θ; SpikingJelly's ``LIFNode`` (τ = 10, decay_input=False, soft reset: the same
β = 0.9 dynamics) and Norse's ``LIFBoxCell`` (dt·τ_mem_inv = 0.1, zero reset, Norse's default
SuperSpike surrogate; a Euler-integrated LIF, not the identical update) have fixed parameters.
``snnkit-ref`` is snnkit's plain autograd loop (the definition the fused path is tested against).

    python bench/lif.py            # T=50, B=256, N=2048 (G2GNet's hidden layer)
    python bench/lif.py --quick    # small sizes, under a minute
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch

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
from snnkit.neurons import LIF  # noqa: E402
from snnkit.neurons.functional import lif_multistep_reference  # noqa: E402
from snnkit.neurons.surrogate import ATan  # noqa: E402

Runner = Callable[[torch.Tensor], torch.Tensor]


def make_runners(device: torch.device) -> dict[str, Runner | str]:
    """impl name → callable x -> spikes (or a string saying why the impl is skipped)."""
    runners: dict[str, Runner | str] = {}
    ours = LIF(
        beta=0.9,
        threshold=1.0,
        learn_beta=True,
        learn_threshold=True,
        reset="subtract",
        surrogate=ATan(alpha=2.0),
    )
    ours.to(device)
    runners["snnkit"] = ours
    runners["snnkit-ref"] = lambda x: lif_multistep_reference(x, ours.params, ours.spike_fn)[0]
    try:
        import snntorch

        leaky = snntorch.Leaky(
            beta=0.9,
            threshold=1.0,
            learn_beta=True,
            learn_threshold=True,
            reset_mechanism="subtract",
            spike_grad=snntorch.surrogate.atan(alpha=2.0),
        ).to(device)

        def run_snntorch(x: torch.Tensor) -> torch.Tensor:
            mem = torch.zeros_like(x[0])
            out = []
            for t in range(x.shape[0]):
                spk, mem = leaky(x[t], mem)
                out.append(spk)
            return torch.stack(out)

        runners["snntorch"] = run_snntorch
    except Exception as err:  # noqa: BLE001 - any import failure means "skip this peer"
        runners["snntorch"] = f"import failed: {err!r}"
    try:
        from spikingjelly.activation_based import functional as sj_functional
        from spikingjelly.activation_based import neuron as sj_neuron
        from spikingjelly.activation_based import surrogate as sj_surrogate

        node = sj_neuron.LIFNode(
            tau=10.0,
            decay_input=False,
            v_threshold=1.0,
            v_reset=None,
            surrogate_function=sj_surrogate.ATan(alpha=2.0),
            detach_reset=True,
            step_mode="m",
        ).to(device)

        def run_sj(x: torch.Tensor) -> torch.Tensor:
            sj_functional.reset_net(node)
            return node(x)

        runners["spikingjelly"] = run_sj
    except Exception as err:  # noqa: BLE001
        runners["spikingjelly"] = f"import failed: {err!r}"
    try:
        import norse.torch as norse

        cell = norse.LIFBoxCell(
            norse.LIFBoxParameters(
                tau_mem_inv=torch.tensor(100.0), v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0)
            ),
            dt=1e-3,
        ).to(device)

        def run_norse(x: torch.Tensor) -> torch.Tensor:
            state = None
            out = []
            for t in range(x.shape[0]):
                spk, state = cell(x[t], state)
                out.append(spk)
            return torch.stack(out)

        runners["norse"] = run_norse
    except Exception as err:  # noqa: BLE001
        runners["norse"] = f"import failed: {err!r}"
    return runners


def run_benchmarks(
    runners: dict[str, Runner], x: torch.Tensor, weight: torch.Tensor, warmup: int, repeats: int
) -> dict[str, dict[str, float]]:
    """Median times per impl; the impls take turns in every repeat, so machine load hits all alike."""
    device = x.device

    def fwd(run: Runner) -> Callable[[], None]:
        return lambda: run(x)

    def fwd_bwd(run: Runner) -> Callable[[], None]:
        def go() -> None:
            spk = run(x)
            (spk * weight).sum().backward()
            x.grad = None

        return go

    results: dict[str, dict[str, float]] = {name: {} for name in runners}
    for key, make in (("fwd_ms", fwd), ("fwd_bwd_ms", fwd_bwd)):
        samples: dict[str, list[float]] = {name: [] for name in runners}
        for run in runners.values():
            for _ in range(warmup):
                make(run)()
        for _ in range(repeats):
            for name, run in runners.items():
                samples[name].append(timed(make(run), device))
        for name in runners:
            results[name][key] = statistics.median(samples[name])
    for name, run in runners.items():
        results[name]["peak_delta_mb"] = peak_delta_mb(fwd_bwd(run), device)
        results[name]["saved_mb"] = _saved_mb(run, x)
    return results


def _saved_mb(run: Runner, x: torch.Tensor) -> float:
    """MB of distinct storages autograd keeps for backward after one forward (activation memory)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        spk = run(x)
    seen.pop(x.untyped_storage().data_ptr(), None)  # the input itself is not extra memory
    del spk
    return sum(seen.values()) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in under a minute")
    parser.add_argument("--T", type=int, default=None, help="time steps (default 50; quick 20)")
    parser.add_argument("--B", type=int, default=None, help="batch size (default 256; quick 32)")
    parser.add_argument("--N", type=int, default=None, help="neurons (default 2048; quick 512)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 7; quick 5)")
    add_run_args(parser, "lif.json", threads=None)
    args = parser.parse_args(argv)

    steps = args.T or (20 if args.quick else 50)
    batch = args.B or (32 if args.quick else 256)
    neurons = args.N or (512 if args.quick else 2048)
    repeats = args.repeats or (5 if args.quick else 7)
    warmup = 2
    if args.threads:
        torch.set_num_threads(args.threads)
    workload = f"T{steps}_B{batch}_N{neurons}"

    device = torch.device(args.device)
    torch.manual_seed(0)
    x = (torch.randn(steps, batch, neurons, device=device) * 0.8 + 0.3).requires_grad_()
    weight = torch.randn(steps, batch, neurons, device=device)
    runners: dict[str, Runner] = select_impls(make_runners(device), args.impls)
    results = run_benchmarks(runners, x, weight, warmup, repeats)
    records = [
        {"workload": workload, "impl": name, "device": str(device), **res} for name, res in results.items()
    ]

    print(f"LIF layer, {workload}, {describe_device(device)}, median of {repeats} interleaved repeats (ms)")
    print_ratio_table(
        records,
        [
            ("fwd_ms", "fwd_ms", "9.2f"),
            ("fwd_bwd_ms", "fwd_bwd_ms", "11.2f"),
            ("peak_delta_mb", "peak_delta_mb", "14.1f"),
            ("saved_mb", "saved_mb", "9.1f"),
        ],
        footnote="ratio = impl time / snnkit time (> 1: snnkit is faster); peak_delta_mb: "
        + ("CUDA max allocated" if device.type == "cuda" else "RSS")
        + " during one fwd+bwd; saved_mb: tensors autograd keeps for backward",
    )
    write_records(args.out, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

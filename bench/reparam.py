"""Benchmark: one training step of STDS's CIFAR-10 network with the weight reparameterisations
(``identity``, ``stmod``, ``gradr``) and the same network built from SpikingJelly's modules.

STDS: Chen, Yu, Fang, Ma, Huang & Tian, "State Transition of Dendritic Spines Improves Learning of Sparse
Spiking Neural Networks", ICML 2022 (``shared/papers/stds.md``); Grad R: Chen et al., "Pruning of Deep
Spiking Neural Networks through Gradient Rewiring", IJCAI 2021.

Workload ``cifar10_step``: :class:`snnkit.models.StdsCifarNet` at the paper's shape (batch 16, T = 8,
32×32×3 images, 256 channels, hidden 2048; ``--quick``: batch 8, 64 channels, hidden 512). One step is
``zero_grad``, forward in training mode (time-shared dropout 0.5, batch statistics), MSE of the output (the
voted spikes averaged over T) against one-hot labels, backward, Adam (lr 1e-4) step, then the callback work
of that step. Implementations:

- ``identity``: every conv / FC weight reparameterised by :func:`snnkit.sparse.apply_reparam` with
  ``identity`` (``w = θ``; the dense baseline with the same state-dict layout).
- ``stmod``: STDS's soft threshold with straight-through gradient, registered at ``D₀ = 0`` (so ``θ`` = the
  initial weight), with a :class:`~snnkit.sparse.FlatWidthSchedule` (sine, ``D_max = 2·D``) standing at the
  middle of its schedule, so every forward runs with the flat width ``D`` (``--flat-width``, default 1) and
  the callback rewrites ``D`` into every layer after each step.
- ``gradr``: Grad R (``w = s·ReLU(θ)``, rewired gradient) plus :class:`~snnkit.sparse.GradRPrior`'s prior step
  on every ``θ`` after the optimiser step (α = 1e-3, target sparsity 0.95, the optimiser's lr).
- ``spikingjelly_identity``: the same network from SpikingJelly's modules as the STDS authors build it
  (``layer.SeqToANNContainer`` around conv + BN and the pooling, the stem's output repeated over T, its
  multi-step ``neuron.LIFNode`` with τ = 2, hard reset to 0, ``detach_reset``, ``surrogate.ATan()``,
  ``layer.Dropout`` with one mask per sample, ``layer.VotingLayer``), the same weights (copied), plain
  parameters, ``functional.reset_net`` before each forward (part of the step, as in the authors' loop).
- ``identity_compact``: ``identity`` with the spikes that layers save for their backward (the inputs of the
  convolutions, the FC and the max-pools: the LIF outputs and the pooled spikes) stored at 1 bit per value by
  a ``torch.autograd.graph.saved_tensors_hooks`` pair, unpacked to float for the backward. A saved tensor is
  packed only when it is the output of a LIF (or a pool of one) and all its values are 0 or 1 (checked), so
  the gradients are exactly ``identity``'s. snnkit's LIFNode itself already saves only its charged membrane
  ``H`` (float32; the surrogate needs it), not the spikes.

Fields: ``ms``: median step time over interleaved repeats (the implementations take turns in every repeat, so
load from other processes hits them alike) after warm-up; ``peak_delta_mb``: peak memory of one step minus
memory just before it (CPU: resident set size sampled every ~0.5 ms; CUDA: ``max_memory_allocated``), the
Adam state already allocated, the smaller of two such steps; ``saved_mb``: the distinct storages autograd keeps for backward after the
forward and the loss (activation memory, deterministic), not counting the model's parameters and buffers nor
the input batch (those exist anyway; a reparameterised weight ``w`` computed from ``θ`` does count).
The ratios ``stmod / identity`` (the issue's target: under 1.10) and the others are printed.

Before timing, ``spikingjelly_identity`` is checked against the snnkit network with the same weights on one
batch (outputs in eval mode and in training mode with the same dropout masks, and the weight gradients).

    python bench/reparam.py --quick   # batch 8, 64 channels, hidden 512: about a minute on 1 thread
    python bench/reparam.py           # the paper's shape (several minutes on 1 thread)
    python bench/reparam.py --device cuda
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
import types
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    add_run_args,
    describe_device,
    peak_delta_mb,
    select_impls,
    timed,
    write_records,
)
from snnkit.models.stds import StdsCifarNet  # noqa: E402
from snnkit.neurons.hard_reset import LIFNode  # noqa: E402
from snnkit.sparse.reparam import (  # noqa: E402
    FlatWidthSchedule,
    GradRPrior,
    apply_reparam,
    sparsity_report,
)

N_CLASSES = 10
LR = 1e-4


# ------------------------------------------------------------------------------- SpikingJelly's network
def spikingjelly_net(net: StdsCifarNet) -> nn.Module:
    """The STDS CIFAR-10 network from SpikingJelly 2.0 modules, with ``net``'s shape and a copy of its
    weights (the module names match, so ``net.state_dict()`` loads strictly)."""
    from spikingjelly.activation_based import functional as sjf
    from spikingjelly.activation_based import layer, neuron, surrogate

    c, T = net.channels, net.T

    def lif() -> nn.Module:
        return neuron.LIFNode(tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0,
                              surrogate_function=surrogate.ATan(alpha=2.0), detach_reset=True, step_mode="m")

    def conv_bn() -> nn.Module:
        return layer.SeqToANNContainer(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))

    class SJStdsNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(net.in_channels, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.sn1 = lif()
            self.conv2, self.sn2, self.conv3, self.sn3 = conv_bn(), lif(), conv_bn(), lif()
            self.pool3 = layer.SeqToANNContainer(nn.MaxPool2d(2, 2))
            self.conv4, self.sn4, self.conv5, self.sn5 = conv_bn(), lif(), conv_bn(), lif()
            self.conv6, self.sn6 = conv_bn(), lif()
            self.pool6 = layer.SeqToANNContainer(nn.MaxPool2d(2, 2))
            self.flat = layer.Flatten(step_mode="m")
            self.dp7 = layer.Dropout(net.dropout, step_mode="m")
            self.fc7 = nn.Linear(c * (net.image_size // 4) ** 2, net.hidden, bias=False)
            self.sn7 = lif()
            self.dp8 = layer.Dropout(net.dropout, step_mode="m")
            self.fc8 = nn.Linear(net.hidden, net.n_classes * net.vote, bias=False)
            self.sn8 = lif()
            self.vote = layer.VotingLayer(net.vote, step_mode="m")

        def forward(self, x: Tensor) -> Tensor:
            sjf.reset_net(self)
            s = self.bn1(self.conv1(x)).unsqueeze(0).repeat(T, 1, 1, 1, 1)  # the authors' direct encoding
            s = self.sn2(self.conv2(self.sn1(s)))
            s = self.pool3(self.sn3(self.conv3(s)))
            s = self.sn5(self.conv5(self.sn4(self.conv4(s))))
            s = self.dp7(self.flat(self.pool6(self.sn6(self.conv6(s)))))
            s = self.dp8(self.sn7(self.fc7(s)))
            return self.vote(self.sn8(self.fc8(s))).mean(0)

    sj = SJStdsNet()
    sj.load_state_dict(net.state_dict())
    return sj


def _record_spikes(model: nn.Module, store: dict[str, list[Tensor]]) -> list[Any]:
    """Forward hooks appending each LIF layer's output (``sn1`` … ``sn8``) to ``store[name]``."""
    return [module.register_forward_hook(lambda m, i, out, name=name: store.setdefault(name, []).append(out.detach()))
            for name, module in model.named_children() if name.startswith("sn")]


def _grads(model: nn.Module) -> dict[str, Tensor]:
    return {k: p.grad for k, p in model.named_parameters() if p.grad is not None}


def _max_rel(a: dict[str, Tensor], b: dict[str, Tensor]) -> float:
    return max(((a[k] - b[k]).norm() / a[k].norm().clamp_min(1e-30)).item() for k in a)


def check_spikingjelly(net: StdsCifarNet, sj: nn.Module, x: Tensor, target: Tensor) -> str:
    """Compare the two networks (same weights) on one batch; returns a one-line verdict (printed and
    recorded). Eval mode: the spikes of every LIF layer and the outputs; training mode, same seed before each
    forward (so the same dropout masks: both draw them as ``F.dropout`` of a ones tensor shaped like one time
    step): spikes, outputs and the weight gradients of the MSE loss. Works on copies."""
    a, b = copy.deepcopy(net), copy.deepcopy(sj)
    spikes: list[dict[str, list[Tensor]]] = [{}, {}]
    hooks = _record_spikes(a, spikes[0]) + _record_spikes(b, spikes[1])
    outs, grads = [], []
    try:
        for model in (a, b):
            model.eval()
            with torch.no_grad():
                out_eval = model(x)
            model.train()
            torch.manual_seed(123)
            out = model(x)
            F.mse_loss(out, target).backward()
            outs.append((out_eval, out.detach()))
            grads.append(_grads(model))
    finally:
        for hook in hooks:
            hook.remove()
    layers = sorted(spikes[0])
    same_spikes = layers == sorted(spikes[1]) and all(
        torch.equal(s0, s1) for name in layers for s0, s1 in zip(spikes[0][name], spikes[1][name]))
    diff_out = max((o0 - o1).abs().max().item() for o0, o1 in zip(outs[0], outs[1]))
    rates = ", ".join(f"{name} {spikes[0][name][1].mean().item():.3f}" for name in layers)
    same = same_spikes and diff_out == 0
    return (f"{'SAME' if same else 'DIFFERENT'}: spikes of all {len(layers)} LIF layers "
            f"{'identical' if same_spikes else 'differ'} and outputs max |diff| {diff_out:.3g} (eval, and "
            f"train with the same dropout masks); weight gradients max relative L2 difference "
            f"{_max_rel(grads[0], grads[1]):.3g} over {len(grads[0])} tensors; train firing rates {rates}")


def check_compact(net: StdsCifarNet, x: Tensor, target: Tensor) -> str:
    """The weight gradients of one training step with the spikes stored at 1 bit must be ``identity``'s."""
    a, b = copy.deepcopy(net), copy.deepcopy(net)
    packer = SpikePacker()
    packer.install(b)
    grads = []
    for model, ctx in ((a, nullcontext()), (b, packer.active())):
        torch.manual_seed(123)
        with ctx:
            loss = F.mse_loss(model(x), target)
        loss.backward()
        grads.append(_grads(model))
    same = all(torch.equal(grads[0][k], grads[1][k]) for k in grads[0])
    return f"weight gradients {'IDENTICAL' if same else 'DIFFERENT'} to identity's over {len(grads[0])} tensors"


# ----------------------------------------------------------------------------- spikes stored compactly
def pack_bits(t: Tensor) -> Tensor:
    """The 0/1 values of ``t`` (any shape) as a flat uint8 tensor, 8 values per byte (value ``8i + j`` of the
    flattened tensor in bit ``j`` of byte ``i``; zero bits pad the last byte)."""
    flat = t.reshape(-1) != 0
    pad = (-flat.numel()) % 8
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    octets = flat.view(torch.uint8).view(-1, 8)
    out = octets[:, 0].clone()
    for j in range(1, 8):
        out.bitwise_or_(octets[:, j] << j)
    return out


_BIT_TABLES: dict[tuple[torch.device, torch.dtype], Tensor] = {}


def unpack_bits(packed: Tensor, shape: torch.Size, dtype: torch.dtype) -> Tensor:
    """Inverse of :func:`pack_bits`: a contiguous tensor of ``shape`` and ``dtype`` holding the 0/1 values
    (one row lookup per byte in a 256 × 8 table of the bit patterns)."""
    key = (packed.device, dtype)
    if key not in _BIT_TABLES:
        table = (torch.arange(256).unsqueeze(1) >> torch.arange(8)) & 1
        _BIT_TABLES[key] = table.to(device=packed.device, dtype=dtype)
    values = torch.index_select(_BIT_TABLES[key], 0, packed.int()).view(-1)
    return values[: shape.numel()].view(shape)


@dataclass
class SpikePacker:
    """``saved_tensors_hooks`` that store the saved spike tensors at 1 bit per value.

    Forward hooks on the LIF neurons (and on the max-pools whose input is their spikes) register each spike
    tensor of the current step by its storage, with a weak reference and its version counter. A saved tensor
    is packed (:func:`pack_bits`) only if it lies on a registered storage whose tensor is still alive (so the
    address cannot have been reused) and unmodified since (same version: no in-place op changed the 0/1
    values); anything else is saved as it is. So the backward sees exactly the float spikes.
    """

    spikes: dict[int, tuple[weakref.ref[Tensor], int]] = field(default_factory=dict)

    def install(self, model: nn.Module) -> list[Any]:
        def mark(module: nn.Module, inputs: tuple[Any, ...], out: Tensor) -> None:
            self.spikes[out.untyped_storage().data_ptr()] = (weakref.ref(out), out._version)

        def mark_pool(module: nn.Module, inputs: tuple[Any, ...], out: Tensor) -> None:
            if inputs and self._is_spike(inputs[0]):
                mark(module, inputs, out)

        handles = []
        for module in model.modules():
            if isinstance(module, LIFNode):
                handles.append(module.register_forward_hook(mark))
            elif isinstance(module, nn.MaxPool2d):
                handles.append(module.register_forward_hook(mark_pool))
        return handles

    def _is_spike(self, t: Tensor) -> bool:
        ptr = t.untyped_storage().data_ptr()
        entry = self.spikes.get(ptr)
        if entry is None or not t.is_floating_point():
            return False
        ref, version = entry
        base = ref()
        return base is not None and base.untyped_storage().data_ptr() == ptr and t._version == version

    def pack(self, t: Tensor) -> Any:
        if self._is_spike(t):
            return ("bits", pack_bits(t), t.shape, t.dtype)
        return t

    @staticmethod
    def unpack(saved: Any) -> Tensor:
        if isinstance(saved, tuple):
            _, packed, shape, dtype = saved
            return unpack_bits(packed, shape, dtype)
        return saved

    @contextmanager
    def active(self) -> Iterator[None]:
        self.spikes.clear()
        try:
            with torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack):
                yield
        finally:
            self.spikes.clear()


# ------------------------------------------------------------------------------------------ the step
@dataclass
class Impl:
    """A network under test and what one of its training steps does around forward/backward/step."""

    model: nn.Module
    opt: torch.optim.Optimizer
    after_step: Callable[[], None] | None = None  # the reparameterisation's callback work
    packer: SpikePacker | None = None


def forward_loss(impl: Impl, x: Tensor, target: Tensor) -> Tensor:
    ctx = impl.packer.active() if impl.packer is not None else nullcontext()
    with ctx:
        return F.mse_loss(impl.model(x), target)


def train_step(impl: Impl, x: Tensor, target: Tensor) -> None:
    impl.opt.zero_grad(set_to_none=True)
    forward_loss(impl, x, target).backward()
    impl.opt.step()
    if impl.after_step is not None:
        impl.after_step()


def saved_mb(impl: Impl, x: Tensor, target: Tensor) -> float:
    """MB autograd keeps for backward after one forward + loss: distinct storages of the saved tensors (or
    their packed bytes), without the model's parameters and buffers and the input batch."""
    exclude = {t.untyped_storage().data_ptr() for t in [*impl.model.parameters(), *impl.model.buffers(), x,
                                                        target]}
    seen: dict[int, int] = {}

    def count(t: Tensor) -> None:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in exclude:
            seen[ptr] = t.untyped_storage().nbytes()

    if impl.packer is None:
        def pack(t: Tensor) -> Tensor:
            count(t)
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = F.mse_loss(impl.model(x), target)
    else:
        inner = impl.packer

        def pack_counted(t: Tensor) -> Any:
            saved = inner.pack(t)
            if isinstance(saved, tuple):
                seen[id(saved[1])] = saved[1].numel()  # the packed copy is a new, private storage
            else:
                count(t)
            return saved

        with inner.active(), torch.autograd.graph.saved_tensors_hooks(pack_counted, inner.unpack):
            loss = F.mse_loss(impl.model(x), target)
    del loss
    impl.model.zero_grad(set_to_none=True)
    return sum(seen.values()) / 2**20


def adam(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=LR)


def build_impls(base: StdsCifarNet, flat_width: float, device: torch.device) -> tuple[dict[str, Impl | str], float]:
    """The implementations (each a copy of ``base`` with its own optimiser); returns them and the share of
    ``stmod``'s effective weights that are exactly zero at the benchmark's ``D``."""
    impls: dict[str, Impl | str] = {}
    dense = copy.deepcopy(base)
    apply_reparam(dense, "identity")
    impls["identity"] = Impl(dense, adam(dense))

    st = copy.deepcopy(base)
    layers = apply_reparam(st, "stmod", flat_width=0.0)  # D₀ = 0 of the sine schedule: θ = initial weight
    schedule = FlatWidthSchedule(layers, d_max=2.0 * flat_width, schedule="sine", total_steps=2)
    st_trainer = types.SimpleNamespace(global_step=1)  # mid-schedule: D = D_max·s(1/2) = flat_width
    schedule.on_step_end(st_trainer)
    sparsity = sparsity_report(st)["sparsity"]
    impls["stmod"] = Impl(st, adam(st), lambda: schedule.on_step_end(st_trainer))

    gr = copy.deepcopy(base)
    gr_layers = apply_reparam(gr, "gradr")
    gr_opt = adam(gr)
    prior = GradRPrior(alpha=1e-3, lr=None, target_sparsity=0.95, layers=gr_layers)
    gr_trainer = types.SimpleNamespace(optimizer=gr_opt, scaler=None)
    impls["gradr"] = Impl(gr, gr_opt, lambda: prior.on_step_end(gr_trainer))

    try:
        sj = spikingjelly_net(base).to(device)
        impls["spikingjelly_identity"] = Impl(sj, adam(sj))
    except Exception as err:  # noqa: BLE001 - any import/build failure means "skip this peer"
        impls["spikingjelly_identity"] = f"SpikingJelly network not available: {err!r}"

    compact = copy.deepcopy(base)
    apply_reparam(compact, "identity")
    packer = SpikePacker()
    packer.install(compact)
    impls["identity_compact"] = Impl(compact, adam(compact), packer=packer)
    return impls, sparsity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="batch 8, 64 channels, hidden 512")
    parser.add_argument("--B", type=int, default=None, help="batch size (default 16; quick 8)")
    parser.add_argument("--channels", type=int, default=None, help="conv width (default 256; quick 64)")
    parser.add_argument("--hidden", type=int, default=None, help="hidden FC width (default 2048; quick 512)")
    parser.add_argument("--T", type=int, default=8, help="time steps (default 8)")
    parser.add_argument("--flat-width", type=float, default=1.0, help="stmod's D during the benchmark (1)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default: quick 5, full 3)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps per impl (default 1)")
    add_run_args(parser, "reparam.json")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    batch = args.B or (8 if args.quick else 16)
    channels = args.channels or (64 if args.quick else 256)
    hidden = args.hidden or (512 if args.quick else 2048)
    repeats = args.repeats or (5 if args.quick else 3)
    warmup = args.warmup if args.warmup is not None else 1
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = f"B{batch}_T{args.T}_C{channels}_H{hidden}_32x32"
    load_start = os.getloadavg()[0]

    torch.manual_seed(0)
    base = StdsCifarNet(channels=channels, hidden=hidden, T=args.T).to(device)
    x = torch.randn(batch, 3, 32, 32, device=device)
    target = F.one_hot(torch.randint(0, N_CLASSES, (batch,), device=device), N_CLASSES).float()
    candidates, sparsity = build_impls(base, args.flat_width, device)
    impls: dict[str, Impl] = select_impls(candidates, args.impls)
    check = "not run"
    if isinstance(candidates["spikingjelly_identity"], Impl):
        check = check_spikingjelly(base, candidates["spikingjelly_identity"].model, x, target)
        print(f"SpikingJelly check (same weights, one batch): {check}")
    compact_check = check_compact(base, x, target)
    print(f"1-bit spike storage check: {compact_check}")
    print(f"STDS CIFAR-10 training step, {shape}, {describe_device(device)}, median of {repeats} interleaved "
          f"repeats after {warmup} warm-up; stmod at D = {args.flat_width:g} (sine schedule mid-way): "
          f"{sparsity:.1%} of the weights zero; load average {load_start:.2f} at start", flush=True)

    t0 = time.perf_counter()
    for impl in impls.values():
        for _ in range(warmup):
            train_step(impl, x, target)
    samples: dict[str, list[float]] = {name: [] for name in impls}
    for rep in range(repeats):
        for name, impl in impls.items():
            samples[name].append(timed(lambda impl=impl: train_step(impl, x, target), device))
        print(f"  repeat {rep + 1}/{repeats} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    results: dict[str, dict[str, float]] = {}
    for name, impl in impls.items():
        results[name] = {
            "ms": statistics.median(samples[name]),
            # the smaller of two measurements: allocator and sampling effects only add to a peak
            "peak_delta_mb": min(peak_delta_mb(lambda impl=impl: train_step(impl, x, target), device)
                                 for _ in range(2)),
            "saved_mb": saved_mb(impl, x, target),
        }
    wall = time.perf_counter() - t0
    load_end = os.getloadavg()[0]

    common = {"workload": "cifar10_step", "device": str(device), "shape": shape, "batch": batch, "T": args.T,
              "channels": channels, "hidden": hidden, "threads": torch.get_num_threads(), "repeats": repeats,
              "load_avg": round((load_start + load_end) / 2, 2)}
    records = []
    for name, res in results.items():
        rec = {**common, "impl": name, **res, "ms_all": [round(v, 2) for v in samples[name]]}
        if name == "stmod":
            rec.update(flat_width=args.flat_width, weight_sparsity=round(sparsity, 4))
        if name == "spikingjelly_identity":
            rec["check"] = check
        if name == "identity_compact":
            rec["check"] = compact_check
        records.append(rec)

    base_rec = results.get("identity")
    header = f"{'impl':<22} {'ms':>10} {'peak_delta_mb':>14} {'saved_mb':>9} {'ms / identity':>14} {'saved / identity':>17}"
    print(header)
    print("-" * len(header))
    for name, res in results.items():
        ratio = res["ms"] / base_rec["ms"] if base_rec else float("nan")
        saved_ratio = res["saved_mb"] / base_rec["saved_mb"] if base_rec and base_rec["saved_mb"] else float("nan")
        print(f"{name:<22} {res['ms']:10.1f} {res['peak_delta_mb']:14.1f} {res['saved_mb']:9.1f} {ratio:14.3f} "
              f"{saved_ratio:17.3f}")
    print("peak_delta_mb: " + ("CUDA max allocated" if device.type == "cuda" else "RSS")
          + " during one step; saved_mb: what autograd keeps for backward (no parameters, buffers, input)")
    if base_rec and "stmod" in results:
        r = results["stmod"]["ms"] / base_rec["ms"]
        print(f"stmod / identity step time: {r:.3f} (target < 1.10: {'met' if r < 1.10 else 'NOT met'})")
    print(f"benchmark wall time {wall:.1f} s; load average {load_start:.2f} at start, {load_end:.2f} at end "
          f"({os.cpu_count()} CPUs)")
    write_records(args.out, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

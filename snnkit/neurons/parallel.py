"""Parallelisable spiking neurons as pure functions: exact two-stage leaky integration and spike functions.

SPSN (Yarga & Wood, "Accelerating SNN Training with Stochastic Parallelizable Spiking Neurons", arXiv
2306.12666, 2023) and ParaLIF (Yarga & Wood, "Accelerating spiking neural networks with parallelizable leaky
integrate-and-fire neurons", Neuromorphic Computing and Engineering, 2025, doi 10.1088/2634-4386/adb7fe)
drop the LIF reset, so the membrane is a linear function of the input current and every step can be
computed at once. With ``α = exp(-dt/τ_syn)`` and ``β = exp(-dt/τ_mem)`` (scalars or per-neuron tensors):

    syn_t = α·syn_{t-1} + X_t                  syn_{-1} = 0
    U_t   = β·U_{t-1} + (1 - β)·syn_t          U_{-1} = 0

i.e. ``U = h ∗ X`` (causal convolution over time) with the combined kernel
``h_n = (l ∗ k)_n = (1 - β)·Σ_{j=0..n} α^j β^(n-j)`` (``l_n = α^n``, ``k_n = β^n (1 - β)``).

:func:`leaky_integrate` computes U by one of three exact methods, all tested against
:func:`leaky_integrate_reference` (the recursion as a plain loop, differentiated by autograd) forward and
backward, including the gradients with respect to α and β (ParaLIF learns τ):

* ``"recurrence"``: a fused autograd function. The forward pass runs both recursions in one loop over
  time (two ``addcmul`` per step, no graph: ``syn_t = X_t + α·syn_{t-1}``, ``V_t = syn_t + β·V_{t-1}``,
  then ``U = (1 - β)·V``); the backward pass is the reverse recursion ``a_t = g_t + β·a_{t+1}``,
  ``b_t = (1 - β)·a_t + α·b_{t+1}`` (which is dL/dX_t) in one loop, with the reductions
  ``dL/dβ = Σ_t a_t (U_{t-1} - syn_t)`` and ``dL/dα = Σ_t b_t syn_{t-1}``.
* ``"fft"``: the kernel ``h[:T]`` is built first (in float64, from the positive-term closed form
  ``h_n = (1 - β)·m^n·Σ_{i≤n} (s/m)^i`` with ``m = max(α, β)``, ``s = min(α, β)``) and convolved with X
  through FFTs of a 5-smooth length ≥ 2T - 1, which is an exact linear convolution. The authors' code
  multiplies the FFTs of l, k and X at length 2T, a circular convolution of the length-(3T - 2) result:
  late inputs leak into early outputs (T = 50, τ = 20: errors of 0.87 on potentials of ~3.4). That bug
  does not exist here (a test shows the same check catches it).
* ``"scan"``: a chunked scan. Inside a chunk of C steps the output is a Toeplitz matrix product
  (one batched matmul for all chunks); the state (syn, U) carried from chunk to chunk adds
  ``α·h_j·syn_prev + β^(j+1)·U_prev`` and is propagated with T/C small sequential steps.

``method="auto"`` takes the fastest measured on the device (see :func:`default_method`).

Spike functions (:func:`fire`; the modes of the authors' ``SpikingFunction``) map potentials to spikes;
the stochastic ones take a ``torch.Generator`` so runs are seeded. The functions here are pure math and
check nothing: arguments are validated once where users meet them (:mod:`snnkit.neurons.spsn`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from snnkit.neurons import buffers as _buffers
from snnkit.neurons import compiled as _compiled
from snnkit.neurons.surrogate import SpikeFunction

__all__ = [
    "METHODS",
    "SPIKE_MODES",
    "DELTA_MODES",
    "STOCHASTIC_MODES",
    "paralif_spikes",
    "decay",
    "default_method",
    "FFT_MAX_STEP_NUMEL",
    "leaky_integrate",
    "leaky_integrate_reference",
    "integration_kernel",
    "sigmoid_bernoulli",
    "bernoulli_straight_through",
    "gumbel_softmax",
    "fire",
    "paralif_multistep",
    "shift_in_time",
]

Scalar = float | Tensor

METHODS: tuple[str, ...] = ("auto", "recurrence", "fft", "scan")

# mode -> (normalisation applied to U first, generator kind)
_MODE_TABLE: dict[str, tuple[str, str]] = {
    "GS": ("identity", "gumbel"),
    "SB": ("sigmoid", "bernoulli"),
    "TRB": ("tanh_relu", "bernoulli"),
    "D": ("identity", "delta"),
    "SD": ("sigmoid", "delta"),
    "TD": ("tanh", "delta"),
    "TRD": ("tanh_relu", "delta"),
    "T": ("identity", "threshold"),
    "ST": ("sigmoid", "threshold"),
    "TT": ("tanh", "threshold"),
    "TRT": ("tanh_relu", "threshold"),
}
SPIKE_MODES: tuple[str, ...] = tuple(_MODE_TABLE)
DELTA_MODES: tuple[str, ...] = tuple(m for m, (_, kind) in _MODE_TABLE.items() if kind == "delta")
STOCHASTIC_MODES: tuple[str, ...] = tuple(m for m, (_, kind) in _MODE_TABLE.items() if kind in ("bernoulli", "gumbel"))


def decay(tau: Scalar, dt: float = 1.0) -> Tensor:
    """``exp(-dt/τ)`` as a float64 tensor (τ a number or a tensor of per-neuron time constants)."""
    return torch.exp(-dt / torch.as_tensor(tau, dtype=torch.float64))


def _as_tensor(value: Scalar, ref: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return torch.tensor(float(value), dtype=ref.dtype, device=ref.device)


# ---------------------------------------------------------------------------------------------- integration


def leaky_integrate_reference(x: Tensor, alpha: Scalar, beta: Scalar) -> Tensor:
    """The definition: ``syn_t = α·syn_{t-1} + X_t``, ``U_t = β·U_{t-1} + (1 - β)·syn_t`` as a Python loop.

    ``x`` is ``[T, ...]``; α and β are numbers or tensors broadcastable to one step ``x.shape[1:]``.
    Differentiated by autograd; the ground truth the fast methods are tested against.
    """
    alpha, beta = _as_tensor(alpha, x), _as_tensor(beta, x)
    syn = mem = torch.zeros((), dtype=x.dtype, device=x.device)
    out = []
    for t in range(x.shape[0]):
        syn = alpha * syn + x[t]
        mem = beta * mem + (1 - beta) * syn
        out.append(mem)
    return torch.stack(out) if out else torch.empty_like(x)


def _split_step(step: torch.Size, bshape: torch.Size) -> int:
    """Index d such that the decays vary only over ``step[d:]`` (they are constant over ``step[:d]``)."""
    bs = (1,) * (len(step) - len(bshape)) + tuple(bshape)
    d = len(step)
    while d > 0 and bs[d - 1] == step[d - 1]:
        d -= 1
    return d if all(v == 1 for v in bs[:d]) else 0


def _reduce_over_time(a: Tensor, b: Tensor, shape: torch.Size) -> Tensor:
    """Σ a·b over everything but the decays' own axes, reduced to ``shape`` (the decays' shape).

    A BLAS dot product when ``shape`` has one element; for per-neuron decays the rows are multiplied and
    summed in blocks (no temporary as large as ``a``).
    """
    if math.prod(shape) == 1:
        return torch.dot(a.reshape(-1), b.reshape(-1)).reshape(shape)
    d = _split_step(a.shape, shape)
    if d == 0:
        return (a * b).sum_to_size(shape)
    cols = math.prod(a.shape[d:])
    a2, b2 = a.reshape(-1, cols), b.reshape(-1, cols)
    rows = max(1, (1 << 16) // cols)
    total = torch.zeros(cols, dtype=a.dtype, device=a.device)
    scratch = torch.empty(min(rows, a2.shape[0]), cols, dtype=a.dtype, device=a.device)
    for i in range(0, a2.shape[0], rows):
        part = scratch[: min(rows, a2.shape[0] - i)]
        torch.mul(a2[i : i + rows], b2[i : i + rows], out=part)
        total += part.sum(0)
    return total.reshape((1,) * d + tuple(a.shape[d:])).sum_to_size(shape)  # shape may be (1, N)


def _two_stage_scan(src: Tensor, first: Tensor, second: Tensor, out: Tensor, mid: Tensor | None,
                    reverse: bool = False) -> Tensor:
    """One loop over time of two chained first-order recursions, two ``addcmul`` per step:
    ``m_t = src_t + first·m_{t∓1}``, ``out_t = m_t + second·out_{t∓1}``.

    ``mid`` receives every ``m_t`` (a full buffer) or, when None, ``m`` lives in a single row.
    """
    steps = src.shape[0]
    s_rows, o_rows = src.unbind(0), out.unbind(0)
    m_rows = mid.unbind(0) if mid is not None else [torch.empty_like(o_rows[0])] * steps
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    prev = None
    for t in order:
        if prev is None:
            m_rows[t].copy_(s_rows[t])
            o_rows[t].copy_(m_rows[t])
        else:
            torch.addcmul(s_rows[t], first, m_rows[prev], out=m_rows[t])
            torch.addcmul(m_rows[t], second, o_rows[prev], out=o_rows[t])
        prev = t
    return out


class _Recurrence(torch.autograd.Function):
    """Fused exact two-stage integration with a hand-written reverse-recursion backward.

    Forward, one loop over time with two ``addcmul`` per step: ``syn_t = X_t + α·syn_{t-1}``,
    ``V_t = syn_t + β·V_{t-1}``; then ``U = (1 - β)·V`` in place. syn is kept only when gradients wrt α
    or β are needed (else it lives in one row).

    Backward, one reverse loop: ``a_t = g_t + β·a_{t+1}`` (dL/dU_t), ``c_t = a_t + α·c_{t+1}``, then
    ``dL/dX_t = (1 - β)·c_t``. With decay gradients ``a`` is kept whole for the BLAS reductions
    ``dL/dβ = Σ_t a_t (U_{t-1} - syn_t)`` and ``dL/dα = Σ_t (1 - β) c_t syn_{t-1}``.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
        dtype = torch.promote_types(torch.result_type(x, alpha), torch.result_type(x, beta))
        alpha_c, beta_c = alpha.to(dtype), beta.to(dtype)
        shape = torch.broadcast_shapes(x.shape, alpha.shape, beta.shape)
        need_decay = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        syn = _buffers.empty(shape, dtype, x.device) if need_decay else None
        mem = _buffers.empty(shape, dtype, x.device)
        if _compiled.on_cpu(x, alpha_c, beta_c) and x.shape == shape:  # U = (1 - β)·V in the same pass
            _compiled.two_stage_scan(x, alpha_c, beta_c, mem, syn, scale=1 - beta_c)
        else:
            _two_stage_scan(x, alpha_c, beta_c, mem, syn).mul_(1 - beta_c)
        ctx.save_for_backward(syn, mem if need_decay else None, alpha_c, beta_c)
        ctx.shapes = (alpha.shape, beta.shape)
        ctx.dtypes = (x.dtype, alpha.dtype, beta.dtype)
        return mem

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        syn, mem, alpha, beta = ctx.saved_tensors
        need_x, need_alpha, need_beta = ctx.needs_input_grad
        steps = grad.shape[0]
        dtype = torch.promote_types(grad.dtype, beta.dtype)
        if _compiled.on_cpu(grad, alpha, beta):  # one reverse pass, the decay gradients summed on the way
            return _compiled_grads(ctx, need_x, *_compiled.recurrence_backward(grad, alpha, beta, syn, mem,
                                                                               need_alpha, need_beta))
        a = torch.empty(grad.shape, dtype=dtype, device=grad.device) if need_beta else None
        b = _two_stage_scan(grad, beta, alpha, torch.empty(grad.shape, dtype=dtype, device=grad.device), a,
                            reverse=True)
        b.mul_(1 - beta)  # b_t = dL/dsyn_t (total) = dL/dX_t
        grad_alpha = grad_beta = None
        if need_beta:  # ∂U_t/∂β = U_{t-1} - syn_t
            grad_beta = -_reduce_over_time(a, syn, ctx.shapes[1])
            if steps > 1:
                grad_beta = grad_beta + _reduce_over_time(a[1:], mem[:-1], ctx.shapes[1])
            grad_beta = grad_beta.to(ctx.dtypes[2])
        if need_alpha:  # ∂syn_t/∂α = syn_{t-1}
            if steps > 1:
                grad_alpha = _reduce_over_time(b[1:], syn[:-1], ctx.shapes[0]).to(ctx.dtypes[1])
            else:
                grad_alpha = torch.zeros(ctx.shapes[0], dtype=ctx.dtypes[1], device=b.device)
        grad_x = (b if b.dtype == ctx.dtypes[0] else b.to(ctx.dtypes[0])) if need_x else None
        return grad_x, grad_alpha, grad_beta


class _IntegrateFire(torch.autograd.Function):
    """:class:`_Recurrence` and a stochastic firing (SB, TRB, GS) in one function, CPU only: the same forward
    (compiled scan, then the compiled draws), returning ``(spikes, U)``, or the spikes alone with ``keep_mem``
    False (then p takes U's buffer: one buffer less; with decay gradients :class:`_IntegrateFireSpikes` keeps
    less); backward turns dL/dS into dL/dU inside the compiled reverse pass
    (:func:`snnkit.neurons.compiled.recurrence_backward` with ``firing``), so dL/dU is never written out. Saves what the two functions save (p or y; syn and U for decay gradients). Equal to the
    two-function composition bit for bit (tested)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, alpha: Tensor, beta: Tensor, mode: str, generator: torch.Generator | None,
                keep_mem: bool, donate: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        dtype = torch.promote_types(torch.result_type(x, alpha), torch.result_type(x, beta))
        alpha_c, beta_c = alpha.to(dtype), beta.to(dtype)
        need_decay = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        syn = _buffers.empty(x.shape, dtype) if need_decay else None
        # a donated input takes U, then p (each element written where it was read), and backward's dL/dX over p
        ctx.donated = donate and not (keep_mem or need_decay) and x.dtype == dtype
        mem = _buffers.adopt(x) if ctx.donated else _buffers.empty(x.shape, dtype)
        if not (keep_mem or need_decay):  # U is not needed after p: the scan writes PRESCALE·U, p takes its buffer
            _compiled.two_stage_scan(x, alpha_c, beta_c, mem, syn, scale=(1 - beta_c) * _compiled.PRESCALE[mode])
            p, spikes = _compiled.fire_prescaled(mem, mode, generator)
        else:
            _compiled.two_stage_scan(x, alpha_c, beta_c, mem, syn, scale=1 - beta_c)
            if mode == "SB":
                p = torch.sigmoid(mem)
                spikes = _compiled.bernoulli(p, generator)
            elif mode == "TRB":
                p, spikes = _compiled.tanh_relu_bernoulli(mem, generator)
            else:
                p, spikes = _compiled.gumbel_softmax(mem, generator, 1.0)
        ctx.save_for_backward(syn, mem if need_decay else None, alpha_c, beta_c, p)
        ctx.mode = mode
        ctx.shapes = (alpha.shape, beta.shape)
        ctx.dtypes = (x.dtype, alpha.dtype, beta.dtype)
        ctx.set_materialize_grads(False)
        return (spikes, mem) if keep_mem else spikes

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_s: Tensor | None, grad_mem: Tensor | None = None) -> tuple[Tensor | None, ...]:
        _buffers.ensure_unspent(ctx, "stochastic parallel neuron")
        syn, mem, alpha, beta, p = ctx.saved_tensors
        need_x, need_alpha, need_beta = ctx.needs_input_grad[:3]
        if grad_s is None and grad_mem is None:
            return None, None, None, None, None, None, None
        firing = None
        if grad_s is not None:
            grad_s = grad_s.to(p.dtype).contiguous()
            firing = (ctx.mode, p, 2.0 if ctx.mode == "GS" else 1.0)
        grad = grad_s if grad_s is not None else grad_mem
        extra = grad_mem.contiguous() if grad_s is not None and grad_mem is not None else None
        out = p.detach() if ctx.donated else None  # the donated buffer: dL/dX over p
        grads = _compiled_grads(ctx, need_x, *_compiled.recurrence_backward(grad, alpha, beta, syn, mem, need_alpha,
                                                                            need_beta, firing, extra, out))
        ctx.spent = ctx.donated
        return *grads, None, None, None, None


class _IntegrateFireSpikes(torch.autograd.Function):
    """:class:`_IntegrateFire` returning the spikes alone, with decay gradients, in chunks of time
    (:func:`snnkit.neurons.compiled.integrate_fire_spikes`): forward keeps no ``[T, ...]`` buffer but the spikes and
    saves only its input X (with the scan's state at every few chunks' start and the Philox key); backward
    recomputes U and p chunk by chunk and runs the reverse pass over each (no ``[T, ...]`` buffer besides X, the
    spikes, dL/dS and dL/dX; :class:`_IntegrateFire` keeps syn, U and p when decay gradients are needed). The same spikes and gradients as
    :class:`_IntegrateFire` (tested)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, alpha: Tensor, beta: Tensor, mode: str,
                generator: torch.Generator | None, donate: bool = False) -> Tensor:
        dtype = torch.promote_types(torch.result_type(x, alpha), torch.result_type(x, beta))
        alpha_c, beta_c = alpha.to(dtype), beta.to(dtype)
        ctx.donated = donate and x.dtype == dtype  # backward then writes dL/dX over the saved x
        spikes, ctx.state = _compiled.integrate_fire_spikes(x, alpha_c, beta_c, mode, generator)
        ctx.save_for_backward(x, alpha_c, beta_c)
        ctx.mode = mode
        ctx.shapes = (alpha.shape, beta.shape)
        ctx.dtypes = (x.dtype, alpha.dtype, beta.dtype)
        ctx.set_materialize_grads(False)
        return spikes

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_s: Tensor | None) -> tuple[Tensor | None, ...]:
        _buffers.ensure_unspent(ctx, "stochastic parallel neuron")
        if grad_s is None:
            return None, None, None, None, None, None
        x, alpha, beta = ctx.saved_tensors
        need_x, need_alpha, need_beta = ctx.needs_input_grad[:3]
        grads = _compiled_grads(ctx, need_x, *_compiled.integrate_fire_spikes_backward(
            grad_s, x, alpha, beta, ctx.mode, ctx.state, need_alpha, need_beta, ctx.donated))
        ctx.spent = ctx.donated
        return *grads, None, None, None


def _compiled_grads(ctx: Any, need_x: bool, grad_x: Tensor, grad_alpha: Tensor | None,
                    grad_beta: Tensor | None) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """The compiled backward's ``(dL/dX, dL/dα, dL/dβ)`` (the decay gradients per element of one step) reduced to
    the decays' shapes and cast to the inputs' dtypes (``ctx.shapes``, ``ctx.dtypes``)."""
    if grad_alpha is not None:
        grad_alpha = grad_alpha.sum_to_size(ctx.shapes[0]).to(ctx.dtypes[1])
    if grad_beta is not None:
        grad_beta = grad_beta.sum_to_size(ctx.shapes[1]).to(ctx.dtypes[2])
    return (grad_x if grad_x.dtype == ctx.dtypes[0] else grad_x.to(ctx.dtypes[0])) if need_x else None, grad_alpha, \
        grad_beta


def _fused_integrate_fire(x: Tensor, alpha: Tensor, beta: Tensor, mode: str, method: str) -> bool:
    """Whether :class:`_IntegrateFire` applies: a stochastic mode, the recurrence method, CPU float tensors, x
    contiguous and of the full shape."""
    return (mode in STOCHASTIC_MODES and method in ("auto", "recurrence") and x.dim() > 0 and x.shape[0] > 0
            and (method == "recurrence" or default_method(x) == "recurrence") and _compiled.on_cpu(x, alpha, beta)
            and x.is_contiguous() and x.shape == torch.broadcast_shapes(x.shape, alpha.shape, beta.shape))


def integration_kernel(alpha: Tensor, beta: Tensor, steps: int) -> Tensor:
    """The combined kernel ``h[:steps]``, ``h_n = (1 - β)·Σ_{j≤n} α^j β^(n-j)``, shape ``[steps, *bshape]``.

    Computed in float64 as ``(1 - β)·m^n·cumsum(r^i)`` with ``m = max(α, β)``, ``r = min(α, β)/m`` (all terms
    positive, no cancellation, no overflow). Differentiable in α and β: the expression is symmetric in α and
    β, so at α = β the even split of ``torch.maximum``'s gradient is the exact derivative.
    """
    a, b = alpha.to(torch.float64), beta.to(torch.float64)
    m, s = torch.maximum(a, b), torch.minimum(a, b)
    n = torch.arange(steps, dtype=torch.float64, device=a.device).reshape(steps, *([1] * m.dim()))
    geometric = torch.pow(s / m, n).cumsum(0)
    return (1 - b) * torch.pow(m, n) * geometric


def _kernel_for(x: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
    """:func:`integration_kernel` in x's dtype, shaped ``[T, 1.., *bshape]`` to broadcast against ``x``."""
    h = integration_kernel(alpha, beta, x.shape[0]).to(torch.result_type(x, alpha))
    pad = x.dim() - h.dim()
    return h.reshape(h.shape[0], *([1] * pad), *h.shape[1:]) if pad > 0 else h


def _fft_size(n: int) -> int:
    """The smallest 5-smooth number (2^a 3^b 5^c) ≥ n: a fast FFT length."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p235 = p35
            while p235 < n:
                p235 *= 2
            best = min(best, p235)
            p35 *= 3
        p5 *= 5
    return best


def _fft_integrate(x: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
    steps = x.shape[0]
    h = _kernel_for(x, alpha, beta)
    # ≥ 2T - 1: the linear convolution of two length-T sequences fits without wrap-around
    n = _fft_size(2 * steps - 1)
    xf = torch.fft.rfft(x.movedim(0, -1), n=n)
    hf = torch.fft.rfft(h.movedim(0, -1), n=n)
    return torch.fft.irfft(xf * hf, n=n)[..., :steps].movedim(-1, 0)


def _toeplitz(h: Tensor) -> Tensor:
    """Lower-triangular Toeplitz matrices ``[F, C, C]`` with ``M[f, i, j] = h[i - j, f]`` from ``h`` ``[C, F]``."""
    size = h.shape[0]
    idx = torch.arange(size, device=h.device)
    diff = idx[:, None] - idx[None, :]
    hm = h.t()[:, diff.clamp(min=0)]
    return hm * (diff >= 0).to(hm.dtype)


def _scan_integrate(x: Tensor, alpha: Tensor, beta: Tensor, chunk: int) -> Tensor:
    steps, step = x.shape[0], x.shape[1:]
    chunk = min(chunk, steps)
    n_chunks = -(-steps // chunk)
    dtype = torch.result_type(x, alpha)
    bshape = torch.broadcast_shapes(alpha.shape, beta.shape)
    d = _split_step(step, bshape)
    rest, n_k = math.prod(step[:d]), math.prod(step[d:])  # [R, Nk]: Nk distinct kernels
    h = _kernel_for(x[:chunk], alpha, beta).expand(chunk, *step)
    h = h.reshape(chunk, rest, n_k)[:, 0]  # [C, Nk]
    if n_chunks * chunk != steps:
        x = F.pad(x.movedim(0, -1), (0, n_chunks * chunk - steps)).movedim(-1, 0)
    xs = x.reshape(n_chunks, chunk, rest, n_k)
    # within-chunk part: local[k, i, r, n] = Σ_{j≤i} h[i-j, n] x[k, j, r, n]
    local = torch.einsum("nij,kjrn->kirn", _toeplitz(h), xs)
    # the state (syn, U) at the end of each chunk enters the next: U_j += α·h_j·syn_prev + β^(j+1)·U_prev
    j = torch.arange(chunk, dtype=dtype, device=x.device).reshape(chunk, 1)
    a_k = alpha.to(dtype).expand(step).reshape(rest, n_k)[0]
    b_k = beta.to(dtype).expand(step).reshape(rest, n_k)[0]
    from_syn = (a_k * h).unsqueeze(1)  # [C, 1, Nk]
    from_mem = torch.pow(b_k, j + 1).unsqueeze(1)
    syn_gain = torch.pow(a_k, j.flip(0))  # α^(C-1-j): effect of x_j on syn at the chunk's end
    syn_local = torch.einsum("jn,kjrn->krn", syn_gain, xs)
    a_c = a_k**chunk
    outs = [local[0]]
    syn_prev, mem_prev = syn_local[0], local[0, -1]
    for k in range(1, n_chunks):
        out_k = local[k] + from_syn * syn_prev + from_mem * mem_prev
        outs.append(out_k)
        syn_prev = syn_local[k] + a_c * syn_prev
        mem_prev = out_k[-1]
    return torch.cat(outs, 0)[:steps].reshape(steps, *step)


FFT_MAX_STEP_NUMEL = 256  # CPU: at or below this many elements per step the FFT beats the recurrence


def default_method(x: Tensor) -> str:
    """The fastest exact method for ``x`` ``[T, ...]``, as measured (1 thread, fwd + bwd, shared 2-core CPU).

    CPU: ``"recurrence"``: two fused ops per step cost little more than one pass over the data. With
    gradients wrt X, α and β it took ~115 ms at W1 ([1000, 64, 128]) against ~1100 ms for the FFT and
    ~1500 ms for the scan, and ~75 ms at W3 ([500, 16, 1024]) against ~900 / ~800 ms; with the gradient
    wrt X only ~50 ms at W1 and W3. Small steps (≤ ``FFT_MAX_STEP_NUMEL`` elements, e.g. one sample of 16
    neurons over 5000 steps: 14 ms against 150 ms) take ``"fft"``, where the per-step op cost dominates
    the recurrence. CUDA: ``"fft"`` (a few kernels instead of 4T launches; not measured here).
    """
    if x.device.type == "cuda" or x[0].numel() <= FFT_MAX_STEP_NUMEL:
        return "fft"
    return "recurrence"


def leaky_integrate(x: Tensor, alpha: Scalar, beta: Scalar, method: str = "auto", chunk: int = 64) -> Tensor:
    """Membrane potentials ``U`` ``[T, ...]`` of the two-stage leaky integration of ``x`` ``[T, ...]``.

    α and β are numbers or tensors broadcastable to one step (0-d, per-neuron ``[N]``...); gradients
    flow to ``x``, α and β. ``method``: "recurrence", "fft", "scan" (``chunk`` steps per block) or
    "auto" (:func:`default_method`). All are exact: equal to :func:`leaky_integrate_reference` to
    floating-point round-off for every T.
    """
    alpha, beta = _as_tensor(alpha, x), _as_tensor(beta, x)
    if x.shape[0] == 0:
        return leaky_integrate_reference(x, alpha, beta)
    if method == "auto":
        method = default_method(x)
    if method == "fft":
        return _fft_integrate(x, alpha, beta)
    if method == "scan":
        return _scan_integrate(x, alpha, beta, chunk)
    return _Recurrence.apply(x, alpha, beta)


# ---------------------------------------------------------------------------------------------- spikes


def _stochastic_compiled(p: Tensor, grad: Tensor) -> bool:
    """Whether a stochastic firing's backward runs compiled (one pass): CPU, same shape, contiguous."""
    return (_compiled.on_cpu(p, grad) and p.shape == grad.shape and p.is_contiguous() and grad.is_contiguous()
            and grad.dtype == p.dtype)


def _compiled_draws(t: Tensor) -> bool:
    """Whether a stochastic firing draws from the compiled Philox stream (:mod:`snnkit.neurons.compiled`): a
    contiguous CPU tensor. Elsewhere torch's own generator on the tensor's device draws (same law, other
    numbers)."""
    return _compiled.on_cpu(t) and t.is_contiguous()


def _bernoulli(p: Tensor, generator: torch.Generator | None) -> Tensor:
    """``S ~ Bernoulli(p)`` as ``uniform < p`` (the same law as ``torch.bernoulli``, several times faster): on
    CPU one compiled pass (counter-based draws and the comparison), elsewhere into the uniform's own buffer."""
    if _compiled_draws(p):
        return _compiled.bernoulli(p, generator)
    return torch.rand(p.shape, dtype=p.dtype, device=p.device, generator=generator).lt_(p)


class _BernoulliST(torch.autograd.Function):
    """``S ~ Bernoulli(p)`` forward; ``dS/dp = p`` backward (the authors' ``StochasticStraightThrough``)."""

    @staticmethod
    def forward(ctx: Any, p: Tensor, generator: torch.Generator | None) -> Tensor:
        ctx.save_for_backward(p)
        return _bernoulli(p, generator)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (p,) = ctx.saved_tensors
        return grad * p, None


class _SigmoidBernoulli(torch.autograd.Function):
    """σ then :class:`_BernoulliST` in one function: backward ``g·p²(1 - p)`` with ``p = σ(U)`` saved."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, generator: torch.Generator | None) -> Tensor:
        p = torch.sigmoid(u)
        ctx.save_for_backward(p)
        return _bernoulli(p, generator)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (p,) = ctx.saved_tensors
        if _stochastic_compiled(p, grad):
            return _compiled.stochastic_backward("SB", p, grad), None
        return (1 - p).mul_(p).mul_(p).mul_(grad), None


class _TanhReluBernoulli(torch.autograd.Function):
    """``p = relu(tanh(U))`` then :class:`_BernoulliST` in one function (ParaLIF's TRB): only p is saved, and
    backward is the composition's ``g·p·(1 - p²)`` (zero where p = 0), equal to it to round-off. On CPU p is
    ``relu(2σ(2U) - 1)`` (:func:`snnkit.neurons.compiled.tanh_relu_bernoulli`), equal to round-off too."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, generator: torch.Generator | None) -> Tensor:
        if _compiled_draws(u):  # p = relu(2σ(2U) - 1) and the draws in one compiled pass
            p, spikes = _compiled.tanh_relu_bernoulli(u, generator)
            ctx.save_for_backward(p)
            return spikes
        p = torch.tanh(u).relu_()
        ctx.save_for_backward(p)
        return _bernoulli(p, generator)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (p,) = ctx.saved_tensors
        if _stochastic_compiled(p, grad):
            return _compiled.stochastic_backward("TRB", p, grad), None
        return (grad * p).mul_(1 - p * p), None


def bernoulli_straight_through(p: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Spikes ``S ~ Bernoulli(p)`` (p in [0, 1]) with the gradient ``dS/dp = p``.

    This is Eq. 19 of arXiv 2306.12666 (Eq. 18 of the ParaLIF paper) as the authors' code computes it:
    the incoming gradient is multiplied by the probability itself, not passed straight through.
    """
    return _BernoulliST.apply(p, generator)


def sigmoid_bernoulli(u: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """SPSN-SB: ``p = σ(U)``, ``S ~ Bernoulli(p)``; backward ``dS/dU = p·σ'(U) = p²(1 - p)`` (intentional,
    the paper's Eq. 19). Same draws as ``bernoulli_straight_through(torch.sigmoid(u), generator)``."""
    return _SigmoidBernoulli.apply(u, generator)


class _GumbelSoftmax(torch.autograd.Function):
    """Hard 2-class Gumbel-softmax with straight-through gradient (see :func:`gumbel_softmax`)."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, generator: torch.Generator | None, temperature: float) -> Tensor:
        ctx.temperature = temperature
        if _compiled_draws(u):  # one compiled pass: draw, soft value, spike
            y_soft, spikes = _compiled.gumbel_softmax(u, generator, temperature)
            ctx.save_for_backward(y_soft)
            return spikes
        uni = torch.rand(u.shape, dtype=u.dtype, device=u.device, generator=generator)
        uni.clamp_(torch.finfo(u.dtype).tiny, 1 - torch.finfo(u.dtype).eps / 2)  # guard log(0) at both ends
        z = uni.logit_().add_(u, alpha=2.0)  # logistic noise (g0 - g1) + U - (-U), in the uniform's buffer
        if temperature != 1.0:
            z.div_(temperature)
        y_soft = z.sigmoid_()
        ctx.save_for_backward(y_soft)
        return torch.gt(y_soft, 0.5, out=torch.empty_like(y_soft))  # 0/1 in u's dtype, no bool temporary

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (y,) = ctx.saved_tensors
        if _stochastic_compiled(y, grad):
            return _compiled.stochastic_backward("GS", y, grad, 2.0 / ctx.temperature), None, None
        return (1 - y).mul_(y).mul_(grad).mul_(2.0 / ctx.temperature), None, None


def gumbel_softmax(u: Tensor, generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
    """SPSN-GS: hard Gumbel-softmax over the two classes ``[U, -U]`` (spike / no spike), straight-through.

    The authors draw Gumbel noise ``g0, g1`` and take ``y = softmax([(U + g0)/τ, (-U + g1)/τ])[0]``; the
    spike is ``y > 0.5`` and its gradient is that of ``y``. A two-class softmax is
    ``σ((2U + g0 - g1)/τ)`` and ``g0 - g1`` is logistic, ``log u - log(1 - u)`` for one uniform ``u``: the
    same distribution from one draw. The uniform is clamped away from 0 and 1 (no ``log(0)``). Forward
    values are exactly 0 or 1 (the authors' ``y_hard - y.detach() + y`` can be off by round-off);
    backward ``dS/dU = y(1 - y)·2/τ``.
    """
    return _GumbelSoftmax.apply(u, generator, temperature)


def _tanh_relu(u: Tensor) -> Tensor:
    return torch.relu(torch.tanh(u))


_NORMALISE: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda u: u,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "tanh_relu": _tanh_relu,
}


def shift_in_time(u: Tensor) -> Tensor:
    """``[0, u_0, ..., u_{T-2}]``: the sequence delayed by one step, zero first (the authors' pad-and-drop)."""
    return torch.cat([torch.zeros_like(u[:1]), u[:-1]], 0)


def fire(
    u: Tensor,
    mode: str,
    threshold: Scalar = 1.0,
    spike_fn: SpikeFunction | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Spikes ``[T, ...]`` from potentials ``u`` ``[T, ...]`` by one of the ParaLIF spike modes.

    A normalisation ``n`` comes first: none (GS, D, T), sigmoid (SB, SD, ST), tanh (TD, TT) or
    ``relu(tanh(·))`` (TRB, TRD, TRT). Then, with θ = ``threshold`` and ``spike_fn`` a surrogate spike
    function (Heaviside ``H(v) = [v > 0]`` forward, fast-sigmoid or arctan backward):

    * GS: :func:`gumbel_softmax` on U (SPSN-GS); SB, TRB: :func:`bernoulli_straight_through` on ``n(U)``
      (SB is SPSN-SB: dS/dU = p²(1 - p)); θ is not used.
    * D, SD, TD, TRD (delta): ``S_t = H((n(U_t) - n(U_{t-1})) - θ)`` with ``n(U_{-1})`` taken as 0 (the
      authors pad the normalised sequence with a zero, so SD's first step compares σ(U_0) with 0).
    * T, ST, TT, TRT (threshold): ``S_t = H(n(U_t) - θ)``.

    Gradients reach U (and θ when it requires grad) through the surrogate of ``spike_fn``.
    """
    norm, kind = _MODE_TABLE[mode]
    if mode == "SB":
        return sigmoid_bernoulli(u, generator)  # σ and the Bernoulli in one autograd function
    if mode == "TRB":
        return _TanhReluBernoulli.apply(u, generator)  # likewise: one saved tensor instead of two
    v = _NORMALISE[norm](u)
    if kind == "gumbel":
        return gumbel_softmax(v, generator)
    if kind == "bernoulli":
        return bernoulli_straight_through(v, generator)
    if kind == "delta":
        v = v - shift_in_time(v)
    return spike_fn(v - threshold)


def _integrate_fire_fused(x: Tensor, alpha: Scalar, beta: Scalar, mode: str, generator: torch.Generator | None,
                          recurrent: Callable[[Tensor], Tensor] | None, method: str,
                          keep_mem: bool, donate: bool = False) -> Tensor | tuple[Tensor, Tensor] | None:
    """:class:`_IntegrateFire` (``(spikes, U)``, ``keep_mem``) or :class:`_IntegrateFireSpikes` (the spikes) where
    they apply (no recurrence, :func:`_fused_integrate_fire`); None where they do not. ``donate``: see
    :func:`paralif_spikes`."""
    if recurrent is None:
        alpha_t, beta_t = _as_tensor(alpha, x), _as_tensor(beta, x)
        if _fused_integrate_fire(x, alpha_t, beta_t, mode, method):
            decay_grads = torch.is_grad_enabled() and (alpha_t.requires_grad or beta_t.requires_grad)
            if keep_mem or not decay_grads:
                return _IntegrateFire.apply(x, alpha_t, beta_t, mode, generator, keep_mem, donate)
            return _IntegrateFireSpikes.apply(x, alpha_t, beta_t, mode, generator, donate)
    return None


def paralif_multistep(
    x: Tensor,
    alpha: Scalar,
    beta: Scalar,
    mode: str,
    threshold: Scalar = 1.0,
    spike_fn: SpikeFunction | None = None,
    generator: torch.Generator | None = None,
    recurrent: Callable[[Tensor], Tensor] | None = None,
    recurrent_fire: bool = True,
    method: str = "auto",
) -> tuple[Tensor, Tensor]:
    """ParaLIF over time: ``(spikes, membranes)`` ``[T, ...]`` for input current ``x`` ``[T, ...]``.

    Without recurrence: ``U = leaky_integrate(X)``, ``S = fire(U)``. With ``recurrent`` (a map
    ``h -> W_rec·h + b_rec``, e.g. an ``nn.Linear``) this follows the authors' parallel forward
    (Eqs. 22–24 of the ParaLIF paper) and does not iterate: X is integrated once, ``U_ff = I(X)``; the
    hidden state is the firing of ``U_ff`` delayed by one step, ``h = fire(shift(U_ff))`` (or
    ``relu(shift(U_ff))`` with ``recurrent_fire=False``; a stochastic mode draws its own noise for h); then
    ``U = U_ff + I(X + W_rec·h + b_rec)`` and ``S = fire(U)``. The recurrent input thus comes from the
    feed-forward potential's spikes, not from the layer's own output spikes, so the layer stays parallel.
    """
    fused = _integrate_fire_fused(x, alpha, beta, mode, generator, recurrent, method, keep_mem=True)
    if fused is not None:
        return fused
    u_ff = leaky_integrate(x, alpha, beta, method)
    if recurrent is None:
        mem = u_ff
    else:
        prev = shift_in_time(u_ff)
        hidden = fire(prev, mode, threshold, spike_fn, generator) if recurrent_fire else torch.relu(prev)
        mem = u_ff + leaky_integrate(x + recurrent(hidden), alpha, beta, method)
    return fire(mem, mode, threshold, spike_fn, generator), mem


def paralif_spikes(
    x: Tensor,
    alpha: Scalar,
    beta: Scalar,
    mode: str,
    threshold: Scalar = 1.0,
    spike_fn: SpikeFunction | None = None,
    generator: torch.Generator | None = None,
    recurrent: Callable[[Tensor], Tensor] | None = None,
    recurrent_fire: bool = True,
    method: str = "auto",
    *,
    donate: bool = False,
) -> Tensor:
    """The spikes of :func:`paralif_multistep` alone (the same values and gradients). A stochastic mode on CPU
    without recurrence writes p over the potentials (one ``[T, ...]`` buffer less at the peak of forward); with
    learnable decays it takes :class:`_IntegrateFireSpikes`: U and p live one chunk of time at a time, in forward
    and (recomputed) in backward, so neither they nor the synaptic current are kept.

    ``donate=True`` (:func:`snnkit.neurons.buffers.donate`; on those two paths, with ``x`` of the compute dtype):
    U and p are written over ``x`` (without decay gradients), and backward writes dL/dX over what it saved (p, or
    ``x`` itself), so ``x`` may not be read after the call and the graph not backpropagated twice. Elsewhere it is
    ignored."""
    fused = _integrate_fire_fused(x, alpha, beta, mode, generator, recurrent, method, keep_mem=False, donate=donate)
    if fused is not None:
        return fused
    return paralif_multistep(x, alpha, beta, mode, threshold, spike_fn, generator, recurrent, recurrent_fire,
                             method)[0]

"""snnkit.neurons.buffers: the huge-page buffers are ordinary tensors (shape, dtype, contiguity, writes, release),
small and non-CPU requests take torch.empty, and every neuron kernel that allocates through them gives the same
outputs and gradients bit for bit with them on and off."""

from __future__ import annotations

import gc
import mmap

import pytest
import torch

from snnkit.neurons import buffers
from snnkit.neurons.cuba import CubaLIF
from snnkit.neurons.hard_reset import LIFNode
from snnkit.neurons.lif import LIF
from snnkit.neurons.spsn import SPSN, ParaLIF

needs_madvise = pytest.mark.skipif(not hasattr(mmap, "MADV_HUGEPAGE"), reason="mmap.MADV_HUGEPAGE is Linux-only")


@pytest.fixture
def huge(monkeypatch):
    """Every CPU buffer of at least 1 byte goes through the huge-page path."""
    monkeypatch.setattr(buffers, "MIN_BYTES", 1)
    monkeypatch.setattr(buffers, "huge_pages_used", lambda: True)
    yield
    buffers.clear_pool()


@pytest.fixture
def pool(monkeypatch):
    """Buffers of at least 1 byte are mapped and reused (huge pages off), in an empty pool of 64 MiB."""
    monkeypatch.setattr(buffers, "MIN_BYTES", 1)
    monkeypatch.setattr(buffers, "huge_pages_used", lambda: False)
    monkeypatch.setattr(buffers, "pool_limit", lambda: 64 << 20)
    buffers.clear_pool()
    yield
    buffers.clear_pool()


@needs_madvise
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bool, torch.uint8])
@pytest.mark.parametrize("shape", [(3, 5, 7), (1,), (2, 1 << 20)])
def test_huge_buffer_is_an_ordinary_contiguous_tensor(huge, shape, dtype):
    t = buffers.empty(shape, dtype)
    assert t.shape == shape and t.dtype == dtype and t.device.type == "cpu" and t.is_contiguous()
    assert t.data_ptr() % (2 << 20) == 0  # starts on a huge-page boundary
    t.fill_(1)
    assert int(t.to(torch.int64).sum()) == t.numel()
    assert torch.equal(t.clone(), t)


def test_small_and_non_cpu_requests_take_torch_empty(monkeypatch):
    monkeypatch.setattr(buffers, "huge_pages_used", lambda: True)
    monkeypatch.setattr(buffers, "pool_limit", lambda: 0)
    small = buffers.empty((4, 4), torch.float32)
    assert small.shape == (4, 4) and small.untyped_storage().nbytes() == 64
    meta = buffers.empty((1 << 30,), torch.float32, "meta")
    assert meta.device.type == "meta" and meta.shape == (1 << 30,)
    monkeypatch.setattr(buffers, "huge_pages_used", lambda: False)
    big = buffers.empty((buffers.MIN_BYTES,), torch.uint8)
    assert big.untyped_storage().nbytes() == buffers.MIN_BYTES  # no padded mapping


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


@needs_madvise
def test_huge_buffers_are_released_with_their_last_view(huge):
    gc.collect()
    before = _rss_kb()
    for _ in range(40):  # 40 × 16 MiB written and dropped: without release RSS would rise by 640 MiB
        t = buffers.empty((4 << 20,), torch.float32)
        view = t[1:]
        del t
        view.fill_(1.0)
        del view
    gc.collect()
    assert _rss_kb() - before < 100 * 1024


def _run(make, x):
    torch.manual_seed(3)
    layer = make()
    x = x.clone().requires_grad_()
    out = layer(x)
    out = out[0] if isinstance(out, tuple) else out
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    grads = torch.autograd.grad((out * g).sum(), [x, *[p for p in layer.parameters() if p.requires_grad]])
    return out.detach(), grads


#: every step has 280 > FFT_MAX_STEP_NUMEL elements, so the parallel neurons take the compiled recurrence
NEURONS = {
    "lif": lambda: LIF(beta=0.9),
    "lif_zero": lambda: LIF(beta=0.9, reset="zero"),
    "cuba": lambda: CubaLIF.from_taus(5e-3, 10e-3, 1e-3, form="spsn"),
    "cuba_learn": lambda: CubaLIF.from_taus(5e-3, 10e-3, 1e-3, learn_alpha=True, learn_beta=True),
    "spsn_sb": lambda: SPSN(firing="SB", tau_mem=10e-3, tau_syn=10e-3, dt=1e-3),
    "spsn_gs": lambda: SPSN(firing="GS", tau_mem=10e-3, tau_syn=10e-3, dt=1e-3),
    "paralif_trb_learn": lambda: ParaLIF(spike_mode="TRB", tau_mem=10e-3, tau_syn=10e-3, dt=1e-3, n_neurons=70,
                                         learn_tau=True),
    "paralif_sb_fixed": lambda: ParaLIF(spike_mode="SB", tau_mem=10e-3, tau_syn=10e-3, dt=1e-3, n_neurons=70),
    "lif_node": lambda: LIFNode(tau=2.0),
}


@needs_madvise
@pytest.mark.parametrize("name", sorted(NEURONS))
def test_neurons_give_the_same_results_with_huge_buffers(monkeypatch, name):
    x = torch.randn(30, 4, 70, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.4
    plain = _run(NEURONS[name], x)
    mapped = []
    allocate = buffers.empty

    def counting(shape, dtype, device=None):
        t = allocate(shape, dtype, device)
        mapped.append(t.data_ptr() % (2 << 20) == 0)
        return t

    with monkeypatch.context() as m:
        m.setattr(buffers, "MIN_BYTES", 1)
        m.setattr(buffers, "huge_pages_used", lambda: True)
        m.setattr(buffers, "empty", counting)
        with_huge = _run(NEURONS[name], x)
    assert mapped and all(mapped)  # the kernels did allocate through the huge-page path
    assert torch.equal(plain[0], with_huge[0])
    assert len(plain[1]) == len(with_huge[1])
    for a, b in zip(plain[1], with_huge[1]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("value", [None, "0", "", "yes"])
def test_huge_pages_are_off_unless_the_environment_says_1(monkeypatch, value):
    buffers.huge_pages_used.cache_clear()
    try:
        if value is None:
            monkeypatch.delenv("SNNKIT_HUGE_PAGES", raising=False)
        else:
            monkeypatch.setenv("SNNKIT_HUGE_PAGES", value)
        monkeypatch.setattr(buffers, "pool_limit", lambda: 0)
        assert buffers.huge_pages_used() is False
        big = buffers.empty((buffers.MIN_BYTES,), torch.uint8)
        assert big.untyped_storage().nbytes() == buffers.MIN_BYTES
    finally:
        buffers.huge_pages_used.cache_clear()


@needs_madvise
def test_huge_pages_follow_the_thp_mode_when_asked_for(monkeypatch, tmp_path):
    buffers.huge_pages_used.cache_clear()
    try:
        monkeypatch.setenv("SNNKIT_HUGE_PAGES", "1")
        for mode, want in (("always [madvise] never", True), ("[always] madvise never", False),
                           ("always madvise [never]", False)):
            path = tmp_path / mode.replace(" ", "_")
            path.write_text(mode + "\n")
            monkeypatch.setattr(buffers, "_THP_MODE", path)
            buffers.huge_pages_used.cache_clear()
            assert buffers.huge_pages_used() is want
    finally:
        buffers.huge_pages_used.cache_clear()


def test_a_freed_buffer_is_reused_and_one_in_use_is_not(pool):
    a = buffers.empty((3 << 20,), torch.float32)  # 12 MiB: a mapping of 12 MiB
    a.fill_(2.0)
    b = buffers.empty((3 << 20,), torch.float32)
    assert a.data_ptr() != b.data_ptr()
    ptr, view = a.data_ptr(), a[5:]
    del a
    gc.collect()
    assert buffers.pooled_bytes() == 0  # its view still holds it
    c = buffers.empty((3 << 20,), torch.float32)
    assert c.data_ptr() != ptr and float(view[0]) == 2.0
    del view
    gc.collect()
    assert buffers.pooled_bytes() == 12 << 20
    d = buffers.empty((3 << 20,), torch.float32)
    assert d.data_ptr() == ptr and buffers.pooled_bytes() == 0
    assert d.shape == (3 << 20,) and d.is_contiguous()
    e = buffers.empty((1 << 20,), torch.float64)  # another size: a mapping of its own
    assert e.data_ptr() not in (ptr, b.data_ptr(), c.data_ptr())


def test_the_pool_keeps_at_most_its_limit_and_clears(pool):
    bufs = [buffers.empty((3 << 20,), torch.float32) for _ in range(6)]  # 6 × 12 MiB mappings
    del bufs
    gc.collect()
    assert buffers.pooled_bytes() == 5 * (12 << 20)  # five kept (of 64 MiB), the sixth unmapped
    buffers.clear_pool()
    assert buffers.pooled_bytes() == 0


@pytest.fixture
def fresh_limit():
    """pool_limit reads the environment again (its cache is cleared before and after)."""
    buffers.pool_limit.cache_clear()
    yield
    buffers.pool_limit.cache_clear()


@pytest.mark.parametrize(("value", "want"), [(None, 1024 << 20), ("0", 0), ("16", 16 << 20), (" 8 ", 8 << 20)])
def test_pool_limit_reads_the_environment(monkeypatch, fresh_limit, value, want):
    if value is None:
        monkeypatch.delenv("SNNKIT_BUFFER_POOL_MB", raising=False)
    else:
        monkeypatch.setenv("SNNKIT_BUFFER_POOL_MB", value)
    assert buffers.pool_limit() == want


@pytest.mark.parametrize("value", ["-1", "lots", "1.5"])
def test_a_bad_pool_limit_names_the_variable_and_what_is_allowed(monkeypatch, fresh_limit, value):
    from snnkit.errors import ConfigError

    monkeypatch.setenv("SNNKIT_BUFFER_POOL_MB", value)
    with pytest.raises(ConfigError, match="SNNKIT_BUFFER_POOL_MB.*whole number"):
        buffers.pool_limit()


@pytest.mark.parametrize("name", ["lif", "paralif_trb_learn", "spsn_gs"])
def test_neurons_give_the_same_results_with_reused_buffers(pool, name):
    """Two runs in a row through pooled buffers (the second reusing the first's, garbage and all) and one through
    torch.empty give the same outputs and gradients bit for bit."""
    x = torch.randn(30, 4, 70, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.4
    first, second = _run(NEURONS[name], x), _run(NEURONS[name], x)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(buffers, "MIN_BYTES", 1 << 62)
        plain = _run(NEURONS[name], x)
    for run in (first, second):
        assert torch.equal(run[0], plain[0])
        for a, b in zip(run[1], plain[1]):
            assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("shape", [(3, 5, 7), (100, 8, 64), (7, 1 << 16)])
def test_an_output_is_an_ordinary_contiguous_tensor_with_slack_when_large(shape, dtype):
    t = buffers.output(shape, dtype)
    assert t.shape == shape and t.dtype == dtype and t.device.type == "cpu" and t.is_contiguous()
    assert t.storage_offset() == 0
    size = t.numel() * dtype.itemsize
    large = size >= buffers.OUTPUT_MIN_BYTES
    assert t.untyped_storage().nbytes() == size + (buffers.OUTPUT_SLACK if large else 0)
    t.fill_(2)
    assert float(t.double().sum()) == 2 * t.numel()
    assert torch.equal(t.clone(), t)


def test_an_output_on_another_device_takes_torch_empty():
    meta = buffers.output((1 << 30,), torch.float32, "meta")
    assert meta.device.type == "meta" and meta.shape == (1 << 30,)


@pytest.mark.parametrize("name", ["lif", "cuba", "spsn_sb", "spsn_gs", "paralif_trb_learn", "paralif_sb_fixed",
                                  "lif_node"])
def test_large_spike_outputs_carry_the_slack(name):
    """The neurons' spikes come from buffers.output (their freed block fits a same-sized aligned allocation)."""
    x = torch.randn(100, 8, 64, generator=torch.Generator().manual_seed(0))  # 200 KiB in float32
    if "paralif" in name:
        layer = ParaLIF(spike_mode="TRB" if "trb" in name else "SB", tau_mem=10e-3, tau_syn=10e-3, dt=1e-3,
                        n_neurons=64, learn_tau="learn" in name)
    else:
        layer = NEURONS[name]()
    spk = layer(x)
    spk = spk[0] if isinstance(spk, tuple) else spk
    assert spk.untyped_storage().nbytes() == spk.numel() * spk.dtype.itemsize + buffers.OUTPUT_SLACK

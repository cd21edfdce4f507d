"""snnkit._compat.import_torchvision: the CPU-torch / CUDA-torchvision workaround."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import torch

from snnkit import _compat


def test_import_torchvision_fresh_process_transforms_work():
    # A fresh interpreter exercises the real failure + retry path (in this process it may be cached).
    code = (
        "import torch\n"
        "from snnkit._compat import import_torchvision\n"
        "tv = import_torchvision()\n"
        "import torchvision.transforms as T, torchvision.datasets, torchvision.models\n"
        "x = torch.arange(6.).view(1, 2, 3)\n"
        "y = T.RandomHorizontalFlip(p=1.0)(x)\n"
        "assert torch.equal(y, x.flip(-1)), y\n"
        "assert import_torchvision() is tv\n"
        "print('OK', tv.__version__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("OK")


def test_import_torchvision_in_process():
    tv = _compat.import_torchvision()
    assert tv.__name__ == "torchvision"
    t = tv.transforms.Compose([tv.transforms.Normalize(mean=[0.5], std=[0.5])])
    assert torch.allclose(t(torch.ones(1, 2, 2)), torch.ones(1, 2, 2))


def test_other_runtime_errors_propagate(monkeypatch):
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)

    def boom(name):
        raise RuntimeError("something else entirely")

    monkeypatch.setattr(importlib, "import_module", boom)
    with pytest.raises(RuntimeError, match="something else"):
        _compat.import_torchvision()


def test_retry_only_on_the_exact_error(monkeypatch):
    calls = []

    def flaky(name):
        calls.append(name)
        if len(calls) == 1:
            raise RuntimeError(_compat.TORCHVISION_MISSING_OP_ERROR)
        return "module"

    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    monkeypatch.setattr(importlib, "import_module", flaky)
    monkeypatch.setattr(_compat, "_define_missing_schemas", lambda: calls.append("define"))
    monkeypatch.setattr(_compat, "_forget_torchvision", lambda: None)
    assert _compat.import_torchvision() == "module"
    assert calls == ["torchvision", "define", "torchvision"]

"""Checkpoint files: atomic writes, weights_only loading, CheckpointError for every bad file, RNG states,
the .DONE marker, and the trainer never overwriting a checkpoint it cannot use."""

from __future__ import annotations

import functools
import hashlib
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import TensorDataset

from snnkit.errors import CheckpointError
from snnkit.train import (
    LAST_CHECKPOINT,
    PREV_CHECKPOINT,
    Trainer,
    get_rng_state,
    is_done,
    load_checkpoint,
    load_latest,
    mark_done,
    read_done,
    save_checkpoint,
    set_rng_state,
)


class Opaque:  # not allowed under weights_only=True
    pass


def _state() -> dict:
    model = nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "rng": get_rng_state()}


def _good_file(tmp_path: Path) -> tuple[Path, bytes]:
    path = save_checkpoint(tmp_path / "good.pt", _state())
    return path, path.read_bytes()


def test_roundtrip_loads_with_weights_only(tmp_path: Path) -> None:
    state = _state()
    path = save_checkpoint(tmp_path / "a" / "ck.pt", state)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3
    for k, v in state["model"].items():
        assert torch.equal(loaded["model"][k], v)
    assert loaded["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    torch.load(path, weights_only=True)  # plain torch can read it safely too
    # no temp file left behind; the checksum sits beside the file in sha256sum format
    assert sorted(p.name for p in path.parent.iterdir()) == ["ck.pt", "ck.pt.sha256"]
    digest, name = (path.parent / "ck.pt.sha256").read_text().split()
    assert name == "ck.pt" and digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nope.pt.*does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


@given(frac=st.floats(min_value=0.0, max_value=0.999))
def test_any_truncation_is_a_checkpoint_error(tmp_path_factory: pytest.TempPathFactory, frac: float) -> None:
    tmp = tmp_path_factory.mktemp("trunc")
    path, blob = _good_file(tmp)
    cut = tmp / "cut.pt"
    cut.write_bytes(blob[: int(len(blob) * frac)])
    with pytest.raises(CheckpointError, match="cut.pt") as info:
        load_checkpoint(cut)
    assert "delete it" in str(info.value)
    assert cut.read_bytes() == blob[: int(len(blob) * frac)]  # never modified


def test_garbage_and_foreign_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.ones(2)}, foreign)  # loads, but is not a snnkit checkpoint
    with pytest.raises(CheckpointError, match="foreign.pt.*not a snnkit checkpoint"):
        load_checkpoint(foreign)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"__snnkit_checkpoint__": 1, "x": Opaque()}, unsafe)  # needs full unpickling: refused
    with pytest.raises(CheckpointError, match="unsafe.pt"):
        load_checkpoint(unsafe)


def test_unsafe_state_is_refused_by_key_path_and_the_old_file_kept(tmp_path: Path) -> None:
    path, blob = _good_file(tmp_path)
    with pytest.raises(
        CheckpointError, match=r"state\['callback'\] is a .*Opaque, which torch.load\(weights_only=True\)"
    ):
        save_checkpoint(path, {"callback": Opaque()})
    with pytest.raises(CheckpointError, match=r"state\['cbs'\]\[1\]\['fn'\] is a builtins.function"):
        save_checkpoint(path, {"cbs": [{}, {"fn": lambda x: x}]})
    with pytest.raises(CheckpointError, match=r"state\['a'\]\[0\] is a numpy.ndarray"):
        save_checkpoint(path, {"a": (np.zeros(2),)})
    with pytest.raises(CheckpointError, match=r"state\['d'\] has a key of type Opaque"):
        save_checkpoint(path, {"d": {Opaque(): 1}})
    with pytest.raises(CheckpointError, match="must be a dict"):
        save_checkpoint(path, [1, 2])  # type: ignore[arg-type]
    assert path.read_bytes() == blob
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.pt", "good.pt.sha256"]


def test_save_neither_reloads_nor_serialises_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    def no_load(*_a, **_k):
        raise AssertionError("save_checkpoint must not torch.load the file it wrote")

    real_save = torch.save
    targets: list[type] = []

    def spy_save(obj, f, *a, **k):
        targets.append(type(f))
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "load", no_load)
    monkeypatch.setattr(torch, "save", spy_save)
    save_checkpoint(tmp_path / "ck.pt", _state())
    monkeypatch.undo()
    assert targets and io.BytesIO not in targets  # streamed to the file, not built in memory first
    assert load_checkpoint(tmp_path / "ck.pt")["epoch"] == 3


def test_flipped_byte_is_caught_by_the_checksum(tmp_path: Path) -> None:
    path, blob = _good_file(tmp_path)
    # flip one byte inside a tensor's payload: the zip container still loads, only the checksum notices
    data = bytearray(blob)
    start = blob.index(b"data/0") + 200
    data[start] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"good.pt is corrupted: its SHA-256 .* does not match"):
        load_checkpoint(path)
    (tmp_path / "good.pt.sha256").unlink()  # without the checksum it is loaded unverified
    load_checkpoint(path)


def test_rotation_keeps_the_previous_checkpoint_with_its_checksum(tmp_path: Path) -> None:
    last, prev = tmp_path / "last.pt", tmp_path / "prev.pt"
    for epoch in range(3):
        save_checkpoint(last, {"epoch": epoch}, previous=prev)
    assert load_checkpoint(last)["epoch"] == 2 and load_checkpoint(prev)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "last.pt",
        "last.pt.sha256",
        "prev.pt",
        "prev.pt.sha256",
    ]
    assert load_latest([last, prev])[1:] == (last, False)


def test_corrupt_last_falls_back_to_prev_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    last, prev = tmp_path / "last.pt", tmp_path / "prev.pt"
    save_checkpoint(last, {"epoch": 1}, previous=prev)
    save_checkpoint(last, {"epoch": 2}, previous=prev)
    blob = bytearray(last.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    last.write_bytes(bytes(blob))
    with caplog.at_level("WARNING"):
        state, used, fallback = load_latest([last, prev])
    assert (state["epoch"], used, fallback) == (1, prev, True)
    assert "last.pt is corrupted" in caplog.text and "previous checkpoint" in caplog.text
    prev.write_bytes(b"junk")
    with pytest.raises(
        CheckpointError,
        match=r"^no valid checkpoint is left: re-run with --force .* delete the checkpoints folder .* to start "
        r"over \(last\.pt is corrupted: its SHA-256 .*; prev\.pt is corrupted: its SHA-256 .*\)$",
    ):
        load_latest([last, prev])
    assert load_latest([tmp_path / "none.pt", tmp_path / "nope.pt"]) is None


@pytest.mark.parametrize("hard_links", [True, False])
def test_each_checksum_file_names_its_own_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hard_links: bool
) -> None:
    """``sha256sum -c prev.pt.sha256`` must check prev.pt (its content and its name), not last.pt."""
    import subprocess

    if not hard_links:
        def no_link(src, dst):
            raise OSError("no hard links here")

        monkeypatch.setattr(os, "link", no_link)
    last, prev = tmp_path / "last.pt", tmp_path / "prev.pt"
    for epoch in (1, 2, 3):
        save_checkpoint(last, {"epoch": epoch}, previous=prev)
    for path in (last, prev):
        digest, name = (tmp_path / f"{path.name}.sha256").read_text().split()
        assert name == path.name
        assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    res = subprocess.run(["sha256sum", "-c", "prev.pt.sha256", "last.pt.sha256"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert load_checkpoint(prev)["epoch"] == 2


@pytest.mark.parametrize("hard_links", [True, False])
@pytest.mark.parametrize("crash_after", range(9))
def test_a_crash_between_any_two_file_operations_leaves_a_valid_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_after: int, hard_links: bool
) -> None:
    last, prev = tmp_path / "last.pt", tmp_path / "prev.pt"
    save_checkpoint(last, {"epoch": 1}, previous=prev)
    save_checkpoint(last, {"epoch": 2}, previous=prev)
    real_replace, real_unlink, real_link = os.replace, Path.unlink, os.link
    calls = {"n": 0}

    class Killed(BaseException):
        pass

    def count():
        calls["n"] += 1
        if calls["n"] > crash_after:
            raise Killed

    def replace(src, dst):
        count()
        return real_replace(src, dst)

    def link(src, dst):
        if not hard_links:
            raise OSError("no hard links here")
        count()
        return real_link(src, dst)

    def unlink(self, missing_ok=False):
        if self.name.endswith(".sha256") and not self.name.startswith("."):
            count()
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "link", link)
    monkeypatch.setattr(Path, "unlink", unlink)
    try:
        save_checkpoint(last, {"epoch": 3}, previous=prev)
    except Killed:
        pass
    monkeypatch.undo()
    state, used, fallback = load_latest([last, prev])
    assert state["epoch"] in (2, 3) and not fallback  # never a corrupt-looking pair
    if hard_links:
        assert used == last  # last.pt never disappears
    if calls["n"] <= crash_after:  # it ran to the end
        assert load_checkpoint(last)["epoch"] == 3 and load_checkpoint(prev)["epoch"] == 2


def test_crash_during_rename_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, blob = _good_file(tmp_path)

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 9})
    monkeypatch.undo()
    assert path.read_bytes() == blob
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.pt", "good.pt.sha256"]


def test_a_save_killed_mid_write_leaves_nothing_that_outlives_the_next_save(tmp_path: Path) -> None:
    import subprocess
    import sys

    # SIGKILL in the middle of writing the data (no Python cleanup can run), as a kill during a resume cycle
    script = (
        "import os, signal, sys, torch\n"
        "from snnkit.train import checkpoint as c\n"
        "def die(self, data):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "c._HashingWriter.write = die\n"
        "c.save_checkpoint(sys.argv[1], {'w': torch.zeros(1000)}, previous=sys.argv[2])\n"
    )
    last, prev = tmp_path / "last.pt", tmp_path / "prev.pt"
    save_checkpoint(last, {"epoch": 1}, previous=prev)
    for _ in range(3):
        killed = subprocess.run([sys.executable, "-c", script, str(last), str(prev)], check=False)
        assert killed.returncode == -9
    save_checkpoint(last, {"epoch": 2}, previous=prev)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "last.pt.sha256", "prev.pt", "prev.pt.sha256"]
    assert load_checkpoint(last)["epoch"] == 2 and load_checkpoint(prev)["epoch"] == 1


def test_rng_state_roundtrip_through_a_weights_only_file(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.normal()  # leave a cached gaussian in numpy's state
    random.gauss(0, 1)
    save_checkpoint(tmp_path / "rng.pt", {"rng": get_rng_state()})
    expected = (
        random.random(),
        random.gauss(0, 1),
        np.random.rand(4).tolist(),
        np.random.normal(),
        torch.rand(4),
    )
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    got = (random.random(), random.gauss(0, 1), np.random.rand(4).tolist(), np.random.normal(), torch.rand(4))
    assert got[:4] == expected[:4]
    assert torch.equal(got[4], expected[4])
    with pytest.raises(CheckpointError, match="RNG state is malformed"):
        set_rng_state({"python": {}})


def test_done_marker(tmp_path: Path) -> None:
    assert read_done(tmp_path) is None and not is_done(tmp_path, "abc")
    mark_done(tmp_path / "run", "abc")
    assert is_done(tmp_path / "run", "abc")
    assert not is_done(tmp_path / "run", "abd")
    assert read_done(tmp_path / "run") == "abc"


# ----------------------------------------------------------------------------- trainer + bad files
def _trainer(ckpt: Path, epochs: int = 2, **kw) -> Trainer:
    torch.manual_seed(0)
    return Trainer(
        nn.Linear(4, 2),
        loss_fn=nn.functional.cross_entropy,
        optimizer=functools.partial(torch.optim.SGD, lr=0.1),
        epochs=epochs,
        batch_size=8,
        seed=0,
        ckpt_dir=ckpt,
        progress=False,
        device="cpu",
        **kw,
    )


def _data() -> TensorDataset:
    x = torch.randn(24, 4, generator=torch.Generator().manual_seed(0))
    return TensorDataset(x, (x[:, 0] > 0).long())


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def test_trainer_falls_back_to_prev_when_last_is_corrupt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reference = _trainer(tmp_path / "ref")
    reference.fit(_data())
    _trainer(tmp_path / "run", ckpt_every_steps=1).fit(_data())
    last, prev = tmp_path / "run" / LAST_CHECKPOINT, tmp_path / "run" / PREV_CHECKPOINT
    assert load_checkpoint(last)["done"] and not load_checkpoint(prev)["done"]
    prev_step = load_checkpoint(prev)["position"]["step"]
    blob = bytearray(last.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # a flipped byte: only the checksum can tell
    last.write_bytes(bytes(blob))
    trainer = _trainer(tmp_path / "run", ckpt_every_steps=1)
    with caplog.at_level("WARNING"):
        trainer.fit(_data())
    assert "previous checkpoint" in caplog.text
    assert trainer.resumed_from == {
        "epoch": 1,
        "step": prev_step,
        "checkpoint": str(prev),
        "fallback": True,
    }
    ref_w, got_w = _weights(reference), _weights(trainer)
    assert all(torch.equal(ref_w[k], got_w[k]) for k in ref_w)  # resumed from prev.pt exactly
    assert load_checkpoint(last)["done"]


def test_trainer_with_no_valid_checkpoint_says_force_and_leaves_the_files(tmp_path: Path) -> None:
    _trainer(tmp_path, ckpt_every_steps=1).fit(_data())
    files = {p: p.read_bytes() for p in (tmp_path / LAST_CHECKPOINT, tmp_path / PREV_CHECKPOINT)}
    for path, blob in files.items():
        path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match=r"no valid checkpoint is left.*--force"):
        _trainer(tmp_path).fit(_data())
    assert all(p.read_bytes() == b[: len(b) // 2] for p, b in files.items())


def test_trainer_refuses_another_runs_checkpoint(tmp_path: Path) -> None:
    first = _trainer(tmp_path, epochs=1)
    first.fit(_data())
    final = _weights(first)
    blob = (tmp_path / LAST_CHECKPOINT).read_bytes()
    # a finished run with different settings: refused, nothing overwritten or lost
    with pytest.raises(CheckpointError, match="belongs to run_hash"):
        _trainer(tmp_path, epochs=3).fit(_data())
    assert (tmp_path / LAST_CHECKPOINT).read_bytes() == blob
    # the matching run loads the finished state instead of training: the final weights, not fresh ones
    trainer = _trainer(tmp_path, epochs=1)
    assert not torch.equal(trainer.model.weight, final["weight"])
    history = trainer.fit(_data())
    assert len(history) == 1 and trainer.global_step == 3
    got = _weights(trainer)
    assert all(torch.equal(got[k], final[k]) for k in final)
    assert (tmp_path / LAST_CHECKPOINT).read_bytes() == blob  # not rewritten


def test_trainer_records_done_in_its_checkpoint_not_a_done_marker(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, epochs=1)
    trainer.fit(_data())
    assert not (tmp_path / ".DONE").exists()  # the run-level marker is reproduce's
    state = load_checkpoint(tmp_path / LAST_CHECKPOINT)
    assert state["done"] is True and state["run_hash"] == trainer.run_hash
    assert state["position"] == {"epoch": 1, "step": 3}


def test_unsafe_callback_state_is_caught_before_writing(tmp_path: Path) -> None:
    from snnkit.train import Callback

    class Bad(Callback):
        def state_dict(self) -> dict:
            return {"obj": Opaque()}

    with pytest.raises(CheckpointError, match="weights_only"):
        _trainer(tmp_path, epochs=1, callbacks=[Bad()]).fit(_data())
    assert not (tmp_path / LAST_CHECKPOINT).exists()

"""Test helper (not a script): run a training script in a subprocess and SIGKILL it after a chosen step.

The script appends its global step to a file after every step; :func:`kill_after` waits until that file
reaches ``step``, waits ``extra`` seconds more (so kills also land inside checkpoint writes) and kills.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def env() -> dict[str, str]:
    """The environment for a script subprocess: this checkout importable, one OpenMP thread."""
    out = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT), out.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out["OMP_NUM_THREADS"] = "1"
    return out


def steps_done(path: Path) -> int:
    """The last step the script wrote to ``path`` (0 before the first)."""
    try:
        lines = path.read_text().split()
    except FileNotFoundError:
        return 0
    return int(lines[-1]) if lines else 0


def kill_after(cmd: list[str], steps: Path, step: int, extra: float, timeout: float = 60.0) -> None:
    """Start ``cmd``, SIGKILL it ``extra`` seconds after it reported ``step``; assert it was killed."""
    proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while steps_done(steps) < step:
            if proc.poll() is not None:
                raise AssertionError(f"script ended before step {step}: {proc.stderr.read().decode()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"script made no progress within {timeout:.0f} s")
            time.sleep(0.002)
        time.sleep(extra)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the process was not killed: the trial would prove nothing"

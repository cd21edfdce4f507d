"""mozafari2018 (Mozafari et al., Pattern Recognition 94:87-95, 2019), or another of the five networks, trained
by :class:`snnkit.experiments.stdp.LayerwiseTrainer` on a tiny subset of the embedded MNIST; used by
tests/unit/test_experiments_stdp.py to SIGKILL it in each phase and check the resume is exact.

It checkpoints after every chunk of ``learn_batch`` samples (``every_seconds`` tiny) and appends the trainer's
sample counter to the STEPS file after each chunk (after the checkpoint of that chunk), so the test can kill it
after a chosen sample. mozafari2018's phases: L1 STDP (samples 1-24), L2 STDP (25-48), L3 R-STDP two epochs
(49-96). Every model gets one epoch per STDP phase and two of R-STDP (:func:`epochs_of`), so a model with four
phases has L3 STDP at 49-72 and two R-STDP epochs at 73-120.
The doubling and the adaptive R-STDP blocks are short (8 samples each) so their counters cross the kills.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import torch

from snnkit.config import validate
from snnkit.data import load_dataset
from snnkit.data.sampling import stratified_subset
from snnkit.experiments.stdp import EncodedSet, LayerwiseTrainer, encode
from snnkit.models.stdp_nets import StdpNet, model_phases

N_TRAIN, N_VAL = 24, 12
EPOCHS = [1, 1, 2]
PARAMS = {"model": "mozafari2018", "dataset": "mnist-embedded", "epochs": EPOCHS, "learn_batch": 4,
          "adaptive_every": 8, "eval_batch": 64, "patience": 5, "shuffle": True, "doubling_every": 8,
          "max_a_plus": 0.15, "seed": 0}
RUN_HASH = "stdp-resume-v1"


class _ReportingTrainer(LayerwiseTrainer):
    """Writes the sample counter after every chunk's (possible) checkpoint."""

    steps_file: Path | None = None

    def _maybe_save(self, st, n):  # noqa: ANN001 - the trainer's private hook
        super()._maybe_save(st, n)
        if self.steps_file is not None:
            with open(self.steps_file, "a") as fh:
                fh.write(f"{st['samples']}\n")


def data() -> tuple[EncodedSet, EncodedSet]:
    """The encoded train and validation samples (disjoint; stratified, seeded)."""
    train = encode(stratified_subset(load_dataset("mnist-embedded", "train"), N_TRAIN, 0))
    val = encode(stratified_subset(load_dataset("mnist-embedded", "test"), N_VAL, 0))
    return train, val


def epochs_of(model: str) -> list[int]:
    """One epoch for each of ``model``'s STDP phases, two for its final R-STDP phase (mozafari2018: EPOCHS)."""
    return [1] * (len(model_phases(model)) - 1) + [2]


def train(ckpt_dir: str | None, steps_file: Path | None = None, model: str = "mozafari2018") -> dict:
    params = validate("stdp_mnist", {**PARAMS, "model": model, "epochs": epochs_of(model)})
    train_set, val_set = data()
    net = StdpNet(params["model"], time_steps=params["time_steps"], seed=params["seed"])
    trainer = _ReportingTrainer(net, params, ckpt_dir=ckpt_dir, run_hash=RUN_HASH, every_seconds=1e-9)
    trainer.steps_file = steps_file
    history = trainer.fit(train_set, val_set)
    return {"weights": {k: v.clone() for k, v in net.state_dict().items()},
            "history": [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in history],
            "resumed_from": trainer.resumed_from}


def main(argv: list[str] | None = None) -> int:
    """``stdp_resume.py CKPT_DIR OUT [STEPS [MODEL]]``: train (resuming from CKPT_DIR), save weights and history."""
    args = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    result = train(args[0], Path(args[2]) if len(args) > 2 else None, *args[3:4])
    del result["resumed_from"]
    torch.save(result, args[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())

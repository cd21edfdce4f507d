"""What the STDP / R-STDP notebook shares: S1C1 encoding of a dataset into a compact cache, the
layer-by-layer trainer on :class:`~snnkit.train.RunState` (exact resume), prediction and scoring.

Mozafari et al., Pattern Recognition 94:87-95 (2019); the seed repository's training procedure, with its
bugs left out: model selection and early stopping use a validation split taken from the training images,
never the test set; a silent sample (no decision spike) counts as an error and its rate is reported.

Training (:class:`LayerwiseTrainer`): one phase per entry of ``epochs`` (:func:`snnkit.models.stdp_nets.model_phases`).
Before a phase, the outputs of the frozen blocks below its first learning layer are computed once for the
whole training (and validation) set in batches and cached as uint8 first-spike times
(:func:`~snnkit.models.stdp_nets.to_times`: one byte per neuron); the phase's epochs read the cache.

* STDP phases: samples in chunks of ``learn_batch``; each chunk's winners come from the same weights and
  the updates are applied sample by sample in order (``learn_batch=1`` is SpykeTorch's online rule). The
  rate of sample ``i`` of a layer's training follows :func:`~snnkit.stdp.learning.doubling_schedule`.
* R-STDP phases: blocks of ``adaptive_every`` samples (1000, the seed's batch); after each block the reward
  rates are scaled by the block's error fraction and the punishment rates by its hit fraction
  (:func:`~snnkit.stdp.learning.adaptive_rstdp_rates`; the first block of the phase uses the base rates).
  After every epoch the validation accuracy is measured; the best epoch's weights are kept (a tie counts as
  a new best) and restored at the end; the phase stops once more than ``patience`` epochs passed since the
  best one (the seed's rule).

The data order of epoch ``e`` of phase ``p`` is a function of ``(seed, p, e)``; a checkpoint holds the
weights, the position (phase, epoch, sample), the schedules' counters and the early-stopping state, so a run
killed anywhere resumes bit for bit (the caches are recomputed, deterministically).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from snnkit.models.stdp_nets import StdpNet, from_times
from snnkit.stdp import learning as sl
from snnkit.stdp.filters import s1c1_times
from snnkit.train.state import RunState

log = logging.getLogger(__name__)

#: samples per chunk when a threshold block's outputs are cached (the time-step potentials of 64 images stay in
#: the CPU cache; 1000 would not); the result does not depend on it
_FEATURE_CHUNK = 64

__all__ = ["encode", "LayerwiseTrainer", "score", "EncodedSet", "class_probabilities", "stdp_results", "convergence"]


@dataclass
class EncodedSet:
    """A dataset after S1C1: ``times`` uint8 ``[N, 6, H, W]`` first-spike bins (T = silent), ``targets`` ``[N]``."""

    times: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return int(self.targets.shape[0])


def encode(dataset: Any, time_steps: int = 15, batch: int = 2000) -> EncodedSet:
    """S1C1 of every image of ``dataset`` (an ImageDataset, intensities in [0, 1]), as first-spike times."""
    images = dataset.images
    out = torch.empty(images.shape[0], 6, *images.shape[2:], dtype=torch.uint8)
    for start in range(0, images.shape[0], batch):
        out[start:start + batch] = s1c1_times(images[start:start + batch], time_steps=time_steps)
    return EncodedSet(out, torch.as_tensor(dataset.targets).long().clone())


def class_probabilities(scores: torch.Tensor) -> torch.Tensor:
    """Per-class decision scores (each class's largest last-step potential, >= 0) as probabilities: divided by
    their sum; a silent sample (all zero) gets the uniform distribution. Used for ROC AUC."""
    s = scores.double().clamp_min(0)
    total = s.sum(dim=1, keepdim=True)
    return torch.where(total > 0, s / total.clamp_min(1e-300), torch.full_like(s, 1.0 / s.shape[1]))


def score(pred: torch.Tensor, scores: torch.Tensor, targets: torch.Tensor, n_classes: int) -> dict[str, Any]:
    """Accuracy (silent = wrong), macro F1 (a silent sample is a miss of its class), one-vs-rest macro ROC
    AUC of :func:`class_probabilities` (nan when a class is missing), the silent rate and the accuracy of the
    decided samples (the seed's "accuracy", reported apart)."""
    from sklearn.metrics import f1_score, roc_auc_score

    pred, targets = pred.long(), targets.long()
    silent = pred < 0
    decided = int((~silent).sum())
    labels = list(range(n_classes))
    y = targets.numpy()
    try:
        auc = float(roc_auc_score(y, class_probabilities(scores).numpy(), multi_class="ovr", average="macro",
                                  labels=labels))
    except ValueError:  # a class absent from the targets
        auc = float("nan")
    return {
        "accuracy": float((pred == targets).float().mean()),
        "macro_f1": float(f1_score(y, pred.numpy(), labels=labels, average="macro", zero_division=0)),
        "roc_auc": auc,
        "silent_rate": float(silent.float().mean()),
        "decided_accuracy": float((pred == targets)[~silent].float().mean()) if decided else float("nan"),
    }


def convergence(net: StdpNet) -> dict[str, float]:
    """Mozafari et al. 2019's convergence measure of every STDP-trained layer, ``C = mean w(1 - w)`` over its
    weights in [0, 1]: 0.16 at the N(0.8, 0.05) start, towards 0 as the weights settle at 0 or 1."""
    return {name: float((net.weight(name) * (1 - net.weight(name))).mean())
            for name, spec in net.specs.items() if spec.threshold is not None}


def stdp_results(run: Any, *, trainer: LayerwiseTrainer, test: EncodedSet, classes: list[str],
                 history: list[dict[str, Any]], encode_s: float | None = None,
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The results block of the STDP notebook: scores the test set (silent = wrong; the silent rate and the
    decided samples' accuracy apart), figure ``confusion_matrix`` (decided samples), tables ``per_class``
    (precision, recall, F1, support and silent rate per class), ``history`` and ``results``; metrics
    ``test_accuracy``, ``macro_f1``, ``roc_auc``, ``silent_rate``, ``decided_accuracy``, ``val_accuracy``
    (the selected R-STDP epoch's), ``best_epoch``, ``rstdp_epochs`` (run), ``train_time_s`` per phase and in
    all, ``inference_ms_per_sample``; provenance ``resumed_from``; ``run.finish``."""
    import pandas as pd
    from sklearn.metrics import precision_recall_fscore_support

    from snnkit.report import figures
    from snnkit.report.results import _in_kernel, _save_results_table
    from snnkit.train import metrics as M

    close = not _in_kernel()
    net = trainer.net
    t0 = time.perf_counter()
    out = trainer.predict(test)
    infer_ms = (time.perf_counter() - t0) * 1e3 / max(len(test), 1)
    pred, y = out["pred"], test.targets
    sc = score(pred, out["scores"], y, net.n_classes)
    decided = pred >= 0
    cm = M.confusion_matrix(pred[decided].numpy(), y[decided].numpy(), net.n_classes)
    run.figure(figures.confusion_heatmap(cm, classes, dataset_label=run.dataset_label,
                                         title=f"{net.model_name}, decided samples ({sc['silent_rate']:.1%} silent)"),
               "confusion_matrix", close=close)
    labels = list(range(net.n_classes))
    prec, rec, f1, support = precision_recall_fscore_support(y.numpy(), pred.numpy(), labels=labels, zero_division=0)
    silent_by_class = [float((~decided)[y == c].float().mean()) if bool((y == c).any()) else 0.0 for c in labels]
    run.table(pd.DataFrame({"precision": prec, "recall": rec, "f1": f1, "support": support,
                            "silent_rate": silent_by_class}, index=pd.Index(classes, name="class")), "per_class")
    results: dict[str, Any] = {
        "test_accuracy": sc["accuracy"], "macro_f1": sc["macro_f1"], "roc_auc": sc["roc_auc"],
        "silent_rate": sc["silent_rate"], "decided_accuracy": sc["decided_accuracy"],
        "inference_ms_per_sample": infer_ms,
    }
    if history:
        df = pd.DataFrame(history)
        run.table(df, "history")
        rl = df[df["val_accuracy"].notna()] if "val_accuracy" in df else df.iloc[0:0]
        if len(rl):
            best = rl.loc[rl["val_accuracy"].idxmax()]
            results.update(val_accuracy=float(best["val_accuracy"]), best_epoch=int(best["epoch"]),
                           rstdp_epochs=int(len(rl)), train_accuracy=float(best["train_accuracy"]))
        for phase, t in df.groupby("phase", sort=False)["epoch_time_s"].sum().items():
            results[f"train_time_s_{phase}"] = float(t)
        results["train_time_s"] = float(df["epoch_time_s"].sum())
    if encode_s is not None:
        results["encode_time_s"] = float(encode_s)
    for name, value in convergence(net).items():
        results[f"convergence_{name}"] = value
    results["n_parameters"] = sum(b.numel() for b in net.buffers())
    results.update(extra or {})
    run.record_provenance(resumed_from=trainer.resumed_from)
    _save_results_table(run, {"model": net.model_name, "dataset": run.dataset_label, **results})
    return run.finish(**results)


class LayerwiseTrainer:
    """Trains a :class:`StdpNet` phase by phase (module docstring); ``fit`` returns the per-epoch history.

    Args:
        net: the network (trained in place).
        params: the validated notebook parameters (epochs, learn_batch, eval_batch, doubling_every,
            max_a_plus, adaptive_every, patience, shuffle, seed).
        ckpt_dir / run_hash / progress_file: as :class:`RunState` (``ckpt_dir`` None: no checkpoints).
        every_seconds: mid-epoch checkpoint interval.
        tb_dir: TensorBoard folder (None: no TensorBoard).
    """

    def __init__(self, net: StdpNet, params: Mapping[str, Any], *, ckpt_dir: str | Path | None = None,
                 run_hash: str = "stdp", progress_file: str | Path | None = None, every_seconds: float = 600.0,
                 tb_dir: str | Path | None = None) -> None:
        self.net = net
        self.p = dict(params)
        self.rs = RunState(ckpt_dir, run_hash, every_seconds=every_seconds, progress_file=progress_file)
        self.tb_dir = tb_dir
        self.history: list[dict[str, Any]] = []
        self.resumed_from: dict[str, Any] | None = None
        self._writer = None

    # ------------------------------------------------------------------------------- state
    def _fresh(self) -> dict[str, Any]:
        return {"phase": 0, "epoch": 0, "pos": 0, "counters": {}, "rates": None, "block": [0, 0, 0],
                "best": None, "bad": 0, "history": [], "samples": 0}

    def _payload(self, st: dict[str, Any]) -> dict[str, Any]:
        return {"weights": {k: v.clone() for k, v in self.net.state_dict().items()}, "trainer": copy.deepcopy(st)}

    def _save(self, st: dict[str, Any], done: bool = False) -> None:
        epochs_done = sum(self.p["epochs"][:st["phase"]]) + st["epoch"]
        self.rs.save(self._payload(st), epoch=epochs_done, step=st["samples"], done=done)

    # ------------------------------------------------------------------------------- caches
    def features(self, data: EncodedSet, block: int, *, start_from: tuple[int, torch.Tensor] | None = None
                 ) -> torch.Tensor:
        """uint8 first-spike times of block ``block``'s input for every sample of ``data`` (the cache), computed
        in batches of ``eval_batch``; ``start_from = (b, times)``: the cached input of an earlier block ``b``
        to continue from (the previous phase's cache), instead of the S1C1 times."""
        first, source = start_from if start_from is not None else (0, data.times)
        if block == first:
            return source
        out = torch.empty(len(data), *self.net.output_shape(block - 1), dtype=torch.uint8)
        bs = min(self.p["eval_batch"], _FEATURE_CHUNK)  # per-step potentials of small chunks stay in cache
        for start in range(0, len(data), bs):
            out[start:start + bs] = self.net.features_times(source[start:start + bs], block, start=first)
        return out

    def decision_input(self, data: EncodedSet, block: int) -> torch.Tensor:
        """What a phase whose learners are all decision layers needs of block ``block``'s input: whether each
        neuron fired by the last step (the decision reads nothing else), as first-spike times 0 (fired) or T
        (silent) — the last-step fast path, T times cheaper than :meth:`features`."""
        return self.net.fired_as_times(self.last_step(data, block))

    def last_step(self, data: EncodedSet, block: int) -> torch.Tensor:
        """uint8 ``[N, C, H, W]``: did block ``block``'s input neuron fire at all (what inference needs)."""
        if block == 0 or not self.net.last_step_exact():
            return (self.features(data, block) < self.net.time_steps).to(torch.uint8)
        out = torch.empty(len(data), *self.net.output_shape(block - 1), dtype=torch.uint8)
        bs = self.p["eval_batch"]
        for start in range(0, len(data), bs):
            x = (data.times[start:start + bs] < self.net.time_steps).float()
            out[start:start + bs] = self.net.last_step_features(x, block).to(torch.uint8)
        return out

    def _decide_cached(self, cached: torch.Tensor, block: int, full: bool) -> dict[str, torch.Tensor]:
        bs, outs = self.p["eval_batch"], []
        for start in range(0, cached.shape[0], bs):
            chunk = cached[start:start + bs]
            if full:  # the cache holds "fired by the last step" (1/0)
                times = from_times(self.net.fired_as_times(chunk), self.net.time_steps)
                outs.append(self.net.decide_full(times, block=block))
            else:
                outs.append(self.net.decide_from(block, chunk.float()))
        return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}

    @torch.no_grad()
    def predict(self, data: EncodedSet) -> dict[str, torch.Tensor]:
        """``{"pred" [N] (-1 silent), "scores" [N, classes], "branch_pred"}`` for encoded samples, batched."""
        return self._decide_cached(self.last_step(data, 0), 0, full=not self.net.last_step_exact())

    # ------------------------------------------------------------------------------- training
    def _order(self, n: int, phase: int, epoch: int) -> torch.Tensor:
        if not self.p["shuffle"]:
            return torch.arange(n)
        gen = torch.Generator().manual_seed(int(self.p["seed"]) * 1_000_003 + phase * 10_007 + epoch)
        return torch.randperm(n, generator=gen)

    def _block_of(self, name: str) -> int:
        for i, block in enumerate(self.net.arch.blocks):
            if any(s.name == name for s in block.layers):
                return i
        raise KeyError(name)

    def _progress(self, st: dict[str, Any], n: int, force: bool = False) -> None:
        epochs = self.p["epochs"]
        total = sum(epochs) * n
        self.rs.progress(phase=self.net.phases[st["phase"]].name if st["phase"] < len(epochs) else "done",
                         epoch=st["epoch"] + 1, epochs=epochs[min(st["phase"], len(epochs) - 1)],
                         step=st["samples"], total_steps=max(total, 1), force=force)

    def _tb(self, tag: str, value: float, step: int) -> None:
        if self.tb_dir is None:
            return
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.tb_dir))
        self._writer.add_scalar(tag, value, step)

    def _tb_epoch(self, record: dict[str, Any], step: int) -> None:
        """The seed's per-epoch TensorBoard scalars of one R-STDP epoch record."""
        for tag, key in (("Train/Accuracy", "train_accuracy"), ("Train/Loss", "train_loss"),
                         ("Val/Accuracy", "val_accuracy"), ("Val/Loss", "val_loss"), ("Val/Silent", "val_silent_rate")):
            self._tb(tag, record[key], step)

    def fit(self, train: EncodedSet, val: EncodedSet) -> list[dict[str, Any]]:
        """Train every phase (resuming from the checkpoint when there is one); returns the history."""
        st = self._fresh()
        state = self.rs.load()
        if state is not None:
            self.net.load_state_dict(state["weights"])
            st = state["trainer"]
            self.rs.restore_rng()
            self.resumed_from = self.rs.resumed_from
            # reproduce clears tb/ before every attempt: the epochs done before the kill are written again from
            # the checkpoint's history (the per-iteration scalars of those epochs are not kept)
            for record in st["history"]:
                if "val_accuracy" in record:
                    self._tb_epoch(record, record["epoch"])
            if state.get("done"):
                if self._writer is not None:
                    self._writer.close()
                self.history = st["history"]
                return self.history
        epochs = self.p["epochs"]
        previous: tuple[int, torch.Tensor] | None = None  # the last full cache (block, times), continued from
        done_saved = False
        while st["phase"] < len(epochs):
            phase = self.net.phases[st["phase"]]
            if epochs[st["phase"]] == 0:  # nothing to learn: no cache to build
                self._end_phase(st, phase)
                continue
            block = min(self._block_of(n) for n in phase.learners)
            t0 = time.perf_counter()
            if all(self.net.specs[n].threshold is None for n in phase.learners) and self.net.last_step_exact():
                cached = self.decision_input(train, block)
            else:
                cached = self.features(train, block, start_from=previous)
                previous = (block, cached)
            cache_s = time.perf_counter() - t0
            log.info("phase %s: cached the input of block %d for %d samples in %.1f s", phase.name, block,
                     len(train), cache_s)
            val_cached = self.last_step(val, block) if phase.rule == "rstdp" else None
            while True:
                t0 = time.perf_counter()
                if phase.rule == "stdp":
                    record = self._stdp_epoch(st, phase, cached, len(train))
                else:
                    record = self._rstdp_epoch(st, phase, block, cached, train.targets, val_cached, val.targets)
                record.update(phase=phase.name, epoch=st["epoch"] + 1, epoch_time_s=time.perf_counter() - t0)
                st["history"].append(record)
                st["epoch"] += 1
                st["pos"] = 0
                # the seed's rule: stop once more than `patience` epochs passed since the best one
                stop = phase.rule == "rstdp" and st["bad"] > self.p["patience"]
                ended = stop or st["epoch"] == epochs[st["phase"]]
                if stop:
                    log.info("phase %s: early stop after epoch %d (best validation accuracy %.4f at epoch %d)",
                             phase.name, record["epoch"], st["best"]["val_accuracy"], st["best"]["epoch"])
                if ended:
                    self._end_phase(st, phase)
                done_saved = st["phase"] >= len(epochs)
                self._save(st, done=done_saved)
                self._progress(st, len(train), force=True)
                if ended:
                    break
        if not done_saved:  # the run ended in phases of 0 epochs: mark the final state done
            self._save(st, done=True)
        if self._writer is not None:
            self._writer.close()
        self.history = st["history"]
        return self.history

    def _end_phase(self, st: dict[str, Any], phase: Any) -> None:
        if phase.rule == "rstdp" and st["best"] is not None:
            for name, w in st["best"]["weights"].items():
                self.net.weight(name).copy_(w)
        st.update(phase=st["phase"] + 1, epoch=0, pos=0, rates=None, block=[0, 0, 0], best=None, bad=0)

    def _chunks(self, st: dict[str, Any], n: int, boundary: int | None = None):
        """Yield ``(start, stop)`` chunks of ``learn_batch`` from ``st["pos"]``, not crossing multiples of
        ``boundary``; the caller advances ``st["pos"]``."""
        lb = self.p["learn_batch"]
        while st["pos"] < n:
            start = st["pos"]
            stop = min(start + lb, n)
            if boundary:
                stop = min(stop, (start // boundary + 1) * boundary)
            yield start, stop

    def _maybe_save(self, st: dict[str, Any], n: int) -> None:
        if self.rs.due(st["samples"]):
            self._save(st)
        self._progress(st, n)

    def _stdp_epoch(self, st: dict[str, Any], phase: Any, cached: torch.Tensor, n: int) -> dict[str, Any]:
        order = self._order(n, st["phase"], st["epoch"])
        if st["pos"] == 0:
            st["winners"] = 0  # in the state, so that a resumed epoch reports the whole epoch
        for start, stop in self._chunks(st, n):
            chunk = cached[order[start:stop]]
            for name in phase.learners:
                spec = self.net.specs[name]
                first = st["counters"].get(name, 0)
                rates = torch.tensor([sl.doubling_schedule(first + j, spec.rates[0], every=self.p["doubling_every"],
                                                           max_a_plus=self.p["max_a_plus"])
                                      for j in range(stop - start)])
                winners = self.net.stdp_step(name, chunk, rates)
                st["winners"] += int((winners[..., 0] >= 0).sum())
                st["counters"][name] = first + stop - start
            st["pos"] = stop
            st["samples"] += stop - start
            self._maybe_save(st, n)
        return {"winners_per_sample": st.pop("winners") / max(n * len(phase.learners), 1)}

    def _base_rates(self, phase: Any) -> dict[str, tuple[tuple[float, float], tuple[float, float]]]:
        return {name: (self.net.specs[name].reward, self.net.specs[name].punish) for name in phase.learners}

    def _rstdp_epoch(self, st: dict[str, Any], phase: Any, block: int, cached: torch.Tensor, targets: torch.Tensor,
                     val_cached: torch.Tensor, val_targets: torch.Tensor) -> dict[str, Any]:
        n = cached.shape[0]
        order = self._order(n, st["phase"], st["epoch"])
        learners = phase.learners
        if phase.alternate:
            learners = (learners[st["epoch"] % len(learners)],)
        if st["rates"] is None:
            st["rates"] = self._base_rates(phase)
        every = self.p["adaptive_every"]
        counts = st.setdefault("epoch_counts", [0, 0, 0])
        if st["pos"] == 0:
            counts[:] = [0, 0, 0]
        for start, stop in self._chunks(st, n, boundary=every):
            idx = order[start:stop]
            out = self.net.rstdp_forward(block, cached[idx], learners)
            y = targets[idx]
            pred = out["pred"]
            decided = pred >= 0
            reward: dict[str, torch.Tensor] = {}
            names = [s.name for s in self.net.arch.blocks[-1].layers]
            for name in learners:
                if name in names and len(names) > 1:  # a vote branch: rewarded on its own vote
                    reward[name] = out["branch_pred"][:, names.index(name)] == y
                else:
                    reward[name] = pred == y
                    if name not in names:  # a hidden R-STDP layer learns only when the network decided
                        ctx = out["ctx"][name]
                        out["ctx"][name] = (ctx[0], ctx[1], torch.where(decided[:, None, None], ctx[2], -1))
            self.net.rstdp_step(learners, out, reward, st["rates"])
            hit, miss = int((pred == y).sum()), int((decided & (pred != y)).sum())
            sil = int((~decided).sum())
            for k, v in enumerate((hit, miss, sil)):
                st["block"][k] += v
                counts[k] += v
            st["pos"] = stop
            st["samples"] += stop - start
            if stop % every == 0 or stop == n:  # end of an adaptive block: the next block's rates
                h, m, s = st["block"]
                base = self._base_rates(phase)
                st["rates"] = {name: sl.adaptive_rstdp_rates(*base[name], h, m, s) for name in base}
                st["block"] = [0, 0, 0]
                n_block = max(h + m + s, 1)
                self._tb("Train/Accuracy_Iteration", h / n_block, st["samples"])
                self._tb("Train/Loss_Iteration", m / n_block, st["samples"])  # the seed's loss: wrong fraction
            self._maybe_save(st, n)
        h, m, s = counts
        val = self._decide_cached(val_cached, block, full=not self.net.last_step_exact())
        vs = score(val["pred"], val["scores"], val_targets, self.net.n_classes)
        record = {"train_accuracy": h / max(h + m + s, 1), "train_silent_rate": s / max(h + m + s, 1),
                  "val_accuracy": vs["accuracy"], "val_silent_rate": vs["silent_rate"],
                  "learners": ",".join(learners)}
        step = st["epoch"] + 1
        # the seed's "loss": the fraction of wrong decisions (silent samples are neither right nor wrong there)
        record["train_loss"] = m / max(h + m + s, 1)
        record["val_loss"] = 1.0 - vs["accuracy"] - vs["silent_rate"]
        self._tb_epoch(record, step)
        best = st["best"]
        if best is None or vs["accuracy"] >= best["val_accuracy"]:  # a tie is a new best (as in the seed)
            st["best"] = {"val_accuracy": vs["accuracy"], "epoch": step,
                          "weights": {name: self.net.weight(name).clone() for name in phase.learners}}
            st["bad"] = 0
        else:
            st["bad"] += 1
        return record


"""Variable-length sequences: pad_collate, masks, masked reductions, event binning, and training on them."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from snnkit.data import split_train_val, stratified_subset
from snnkit.data.sequences import (
    EventSequenceDataset,
    SequenceDataset,
    bin_events,
    last_step,
    masked_max,
    masked_mean,
    masked_sum,
    pad_collate,
    time_mask,
)
from snnkit.errors import ConfigError, DataError


def _three():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # T=2
    b = torch.arange(10, dtype=torch.float32).view(5, 2) + 10  # T=5
    c = torch.tensor([[-1.0, -2.0], [-3.0, -4.0], [-5.0, -6.0]])  # T=3
    return [(a, 0), (b, 2), (c, 1)]


def test_pad_collate_by_hand():
    (x, lengths), y = pad_collate(_three())
    assert x.dtype == torch.float32 and lengths.dtype == torch.int64 and y.dtype == torch.int64
    assert x.shape == (5, 3, 2)
    assert lengths.tolist() == [2, 5, 3] and y.tolist() == [0, 2, 1]
    expected = torch.tensor([
        [[1, 2], [10, 11], [-1, -2]],
        [[3, 4], [12, 13], [-3, -4]],
        [[0, 0], [14, 15], [-5, -6]],
        [[0, 0], [16, 17], [0, 0]],
        [[0, 0], [18, 19], [0, 0]],
    ], dtype=torch.float32)  # fmt: skip
    assert torch.equal(x, expected)
    (x8, lengths8), _ = pad_collate(_three(), min_steps=8)
    assert x8.shape == (8, 3, 2) and torch.equal(x8[:5], x) and not x8[5:].any()
    assert torch.equal(lengths8, lengths)


def test_time_mask_and_masked_reductions():
    (x, lengths), _ = pad_collate(_three())
    mask = time_mask(lengths, 5)
    assert mask.dtype == torch.bool and mask.shape == (5, 3)
    assert mask.T.tolist() == [[True, True, False, False, False], [True] * 5, [True, True, True, False, False]]
    # the mean over real steps, computed sample by sample
    for b, (seq, _) in enumerate(_three()):
        assert torch.allclose(masked_mean(x, lengths)[b], seq.mean(0))
        assert torch.allclose(masked_sum(x, lengths)[b], seq.sum(0))
        assert torch.equal(last_step(x, lengths)[b], seq[-1])
    # padding with non-zero junk changes nothing: the mask, not the zeros, keeps it out
    junk = x.clone()
    junk[~mask] = 99.0
    assert torch.equal(masked_mean(junk, lengths), masked_mean(x, lengths))
    assert not torch.equal(junk.mean(0), x.mean(0))
    # extra dims after [T, B] broadcast
    x4 = x.unsqueeze(-1).expand(5, 3, 2, 4)
    assert torch.allclose(masked_mean(x4, lengths), masked_mean(x, lengths).unsqueeze(-1).expand(3, 2, 4))


def test_masked_mean_gradient_ignores_padding():
    (x, lengths), _ = pad_collate(_three())
    x.requires_grad_(True)
    masked_mean(x, lengths).sum().backward()
    assert torch.equal(x.grad[:, 0, 0], torch.tensor([0.5, 0.5, 0.0, 0.0, 0.0]))
    assert torch.equal(x.grad[:, 2, 1], torch.tensor([1 / 3, 1 / 3, 1 / 3, 0.0, 0.0]))


def test_pad_collate_rejects_mixed_channels():
    with pytest.raises(DataError, match="one C"):
        pad_collate([(torch.zeros(2, 3), 0), (torch.zeros(2, 4), 1)])
    with pytest.raises(DataError, match="empty"):
        pad_collate([])


def test_sequence_dataset_subset_split_and_checks():
    seqs = [torch.full((t, 2), float(t)) for t in (1, 2, 3, 4, 5, 6)]
    ds = SequenceDataset(seqs, torch.tensor([0, 1, 0, 1, 0, 1]), ["even", "odd"], "toy-seq", source="s")
    assert ds.lengths.tolist() == [1, 2, 3, 4, 5, 6] and ds.n_channels == 2
    tr, va = split_train_val(ds, 1 / 3, seed=0)
    assert isinstance(va, SequenceDataset) and len(va) == 2 and sorted(va.targets.tolist()) == [0, 1]
    for seq, y in zip(va.sequences, va.targets):  # rows travel with their labels
        assert (seq.shape[0] + 1) % 2 == int(y)
    sub = stratified_subset(ds, 4, seed=1)
    assert sorted(sub.targets.tolist()) == [0, 0, 1, 1] and sub.origin == ds.origin
    with pytest.raises(DataError, match="T_i >= 1"):
        SequenceDataset([torch.zeros(0, 2)], torch.tensor([0]), ["a"], "bad")
    with pytest.raises(DataError, match="channel counts differ"):
        SequenceDataset([torch.zeros(1, 2), torch.zeros(1, 3)], torch.tensor([0, 0]), ["a"], "bad")


def test_bin_events_and_event_dataset():
    times = torch.tensor([0.0, 0.004, 0.012, 0.012, 0.029])
    units = torch.tensor([1, 1, 0, 2, 2])
    x = bin_events(times, units, n_channels=3, dt=0.01)
    assert x.tolist() == [[0, 2, 0], [1, 0, 1], [0, 0, 1]]
    assert bin_events(times, units, 3, 0.01, n_steps=2).tolist() == [[0, 2, 0], [1, 0, 1]]
    events = [(times.numpy(), units.numpy()), ([0.001], [0])]
    ds = EventSequenceDataset(events, torch.tensor([1, 0]), ["a", "b"], "toy-ev", n_channels=3, dt=0.01)
    assert ds.lengths.tolist() == [3, 1]
    assert torch.equal(ds[0][0], x) and ds[1][0].tolist() == [[1, 0, 0]]
    (xb, lengths), y = pad_collate([ds[0], ds[1]])
    assert xb.shape == (3, 2, 3) and lengths.tolist() == [3, 1] and y.tolist() == [1, 0]
    sub = ds.subset([1], note="one")
    assert isinstance(sub, EventSequenceDataset) and sub.dt == 0.01 and sub.lengths.tolist() == [1]
    with pytest.raises(DataError, match=r"\[0, 3\)"):
        EventSequenceDataset([([0.0], [3])], torch.tensor([0]), ["a"], "bad", n_channels=3, dt=0.01)
    with pytest.raises(ConfigError, match="'dt'"):
        EventSequenceDataset(events, torch.tensor([1, 0]), ["a", "b"], "bad", n_channels=3, dt=0)


def test_event_lengths_match_the_binned_samples():
    # 1.0 // 0.1 == 9.0 but floor(1.0 / 0.1) == 10: lengths must bin exactly as the samples do
    times = [1.0, 0.3, 0.7, 2.0, 0.6]
    events = [([t], [0]) for t in times]
    ds = EventSequenceDataset(events, torch.zeros(5, dtype=torch.int64), ["a"], "ev", n_channels=1, dt=0.1)
    assert ds.lengths.tolist() == [ds[i][0].shape[0] for i in range(5)]
    assert ds.lengths.tolist() == [11, 3, 7, 21, 6]  # floor(t / dt) + 1 in float64 (0.3 / 0.1 < 3)


def test_event_dataset_rejects_negative_times():
    with pytest.raises(DataError, match=r"sample 1 .*-0\.5"):
        EventSequenceDataset(
            [([0.0], [0]), ([0.1, -0.5], [0, 0])], torch.tensor([0, 0]), ["a"], "neg", n_channels=1, dt=0.01
        )


# ------------------------------------------------------------------ end to end through the Trainer

N_CLASSES = 4


def _last_step_task(n: int, seed: int) -> SequenceDataset:
    """Class = the one channel that fires at the LAST REAL step; every earlier step is random noise
    (each channel fires with p = 0.4). Reading a padded step, or summing over time, is near chance."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 16, (n,), generator=g)
    targets = torch.randint(0, N_CLASSES, (n,), generator=g)
    seqs = []
    for t, y in zip(lengths.tolist(), targets.tolist()):
        x = (torch.rand(t, N_CLASSES, generator=g) < 0.4).float()
        x[-1] = 0.0
        x[-1, y] = 1.0
        seqs.append(x)
    return SequenceDataset(seqs, targets, [f"ch{c}" for c in range(N_CLASSES)], "last-step-task")


class LastStepReadout(nn.Module):
    """Per-step linear map, read at each sequence's last real step (``masked=False``: at step T_max-1)."""

    def __init__(self, masked: bool = True):
        super().__init__()
        self.fc = nn.Linear(N_CLASSES, N_CLASSES)
        self.masked = masked

    def forward(self, inputs):
        x, lengths = inputs
        h = self.fc(x)  # [T, B, K]
        return last_step(h, lengths) if self.masked else h[-1]


def _fit(model, train, test, collate=pad_collate):
    from snnkit.train import Trainer

    torch.manual_seed(0)
    trainer = Trainer(
        model, loss_fn=nn.functional.cross_entropy,
        optimizer=functools.partial(torch.optim.Adam, lr=0.05), epochs=6, batch_size=32, seed=0,
        device="cpu", progress=False, collate_fn=collate,
    )  # fmt: skip
    trainer.fit(train)
    return trainer.evaluate(test)


def test_trainer_on_variable_length_task_masked_model_learns_unmasked_does_not():
    train, test = _last_step_task(512, seed=1), _last_step_task(256, seed=2)
    masked = _fit(LastStepReadout(masked=True), train, test)
    assert masked["accuracy"] >= 0.97  # chance is 0.25
    unmasked = _fit(LastStepReadout(masked=False), train, test)
    assert unmasked["accuracy"] < 0.6  # reading the padded end is wrong for all but the longest


def test_loss_and_rates_invariant_to_extra_padding():
    data = _last_step_task(16, seed=3)
    samples = [data[i] for i in range(len(data))]
    (x, lengths), y = pad_collate(samples)
    (x_long, lengths_long), y_long = pad_collate(samples, min_steps=x.shape[0] + 9)
    assert x_long.shape[0] == x.shape[0] + 9
    torch.manual_seed(0)
    model = LastStepReadout()
    loss = nn.functional.cross_entropy(model((x, lengths)), y)
    loss_long = nn.functional.cross_entropy(model((x_long, lengths_long)), y_long)
    assert torch.equal(loss, loss_long)
    assert torch.equal(masked_mean(x, lengths), masked_mean(x_long, lengths_long))
    assert not torch.allclose(x.mean(0), x_long.mean(0))  # an unmasked rate would change


def _ragged(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(n, 3, generator=g), torch.tensor(i)) for i, n in enumerate((4, 1, 6))]


def test_pad_start_places_zeros_before_each_sequence():
    samples = _ragged()
    (x, lengths), _ = pad_collate(samples, pad="start")
    assert lengths.tolist() == [4, 1, 6]
    for b, (s, _) in enumerate(samples):
        n = s.shape[0]
        assert torch.equal(x[6 - n:, b], s) and not x[: 6 - n, b].any()
    mask = time_mask(lengths, 6, "start")
    assert mask.sum(0).tolist() == [4, 1, 6] and mask[-1].all()
    assert torch.equal(last_step(x, lengths, "start"), torch.stack([s[-1] for s, _ in samples]))


@pytest.mark.parametrize("reduce", [masked_sum, masked_mean, masked_max, last_step])
def test_reductions_agree_between_pad_placements(reduce):
    """The same samples padded after or before give the same per-sequence reductions."""
    samples = [(s - 0.5, y) for s, y in _ragged(1)]  # negative values: padding zeros must not win a max
    (x_end, lengths), _ = pad_collate(samples, min_steps=9)
    (x_start, lengths_s), _ = pad_collate(samples, min_steps=9, pad="start")
    assert torch.equal(lengths, lengths_s)
    torch.testing.assert_close(reduce(x_end, lengths), reduce(x_start, lengths, "start"))


def test_masked_max_ignores_padding_by_hand():
    x = torch.tensor([[-1.0], [-2.0], [0.0]])  # T=3, B=1; the real steps are the first two
    assert masked_max(x, torch.tensor([2])).item() == -1.0
    assert masked_max(x, torch.tensor([2]), "start").item() == 0.0  # real steps are the last two


def test_pad_rejects_unknown_placement():
    with pytest.raises(ConfigError, match="pad.*'middle'.*end.*start"):
        pad_collate(_ragged(), pad="middle")

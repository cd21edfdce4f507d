"""The SHD classifier (snnkit.models.shd.ShdNet) and the spsn_shd parameter schema."""

from __future__ import annotations

import functools

import pytest
import torch

from snnkit.config import get_schema
from snnkit.data.sequences import SequenceDataset, pad_collate
from snnkit.errors import ConfigError
from snnkit.models.shd import NEURONS, ShdNet
from snnkit.train import SpikeCountRegulariser, Trainer

DETERMINISTIC = ["LIF", "Non-Spiking", "ParaLIF"]  # ParaLIF below runs the threshold mode "T"


def _net(neuron: str, **kw) -> ShdNet:
    torch.manual_seed(0)
    opts = {"spike_mode": "T"} if neuron == "ParaLIF" else {}
    return ShdNet(6, 3, neuron=neuron, hidden_size=8, nb_layers=2, **{**opts, **kw})


def _samples(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [((torch.rand(n, 6, generator=g) < 0.4).float() * 3.0, torch.tensor(i % 3))
            for i, n in enumerate((9, 4, 13))]


@pytest.mark.parametrize("neuron", DETERMINISTIC)
@pytest.mark.parametrize("loss_mode", ["mean", "max", "last"])
def test_logits_do_not_depend_on_padding(neuron, loss_mode):
    """Each sample's logits equal those of the sample alone, whether the batch pads before or after it and
    however long the batch is (the bias of a Linear layer sees no padded step)."""
    samples = _samples()
    for pad in ("start", "end"):
        net = _net(neuron, loss_mode=loss_mode, pad=pad)
        with torch.no_grad():
            for p in net.parameters():  # non-zero biases: padding would leak into the state through them
                p.add_(0.1)
            alone = torch.stack([net(x[:, None]).squeeze(0) for x, _ in samples])
            (x, lengths), _ = pad_collate(samples, min_steps=20, pad=pad)
            batched = net((x, lengths))
        torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-6)


def test_reductions_by_hand():
    net = _net("Non-Spiking", loss_mode="mean", pad="start")
    out = torch.arange(12, dtype=torch.float32).view(4, 1, 3).repeat(1, 2, 1)  # [T=4, B=2, C=3]
    lengths = torch.tensor([4, 2])
    torch.testing.assert_close(net.reduce(out, lengths)[1], out[2:, 1].mean(0))  # the last 2 steps are real
    net.loss_mode = "max"
    torch.testing.assert_close(net.reduce(-out, lengths)[1], -out[2, 1])
    net.loss_mode = "last"
    torch.testing.assert_close(net.reduce(out, lengths)[1], out[3, 1])


@pytest.mark.parametrize("neuron", NEURONS)
def test_every_neuron_trains_end_to_end(neuron):
    net = _net(neuron)
    (x, lengths), y = pad_collate(_samples(), pad="start")
    loss = torch.nn.functional.cross_entropy(net((x, lengths)), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert net.fcs[0].weight.grad is not None and net.fcs[0].weight.grad.abs().sum() > 0
    assert net.spiking_layers == ([] if neuron == "Non-Spiking" else ["neurons.0", "neurons.1"])


def test_bad_construction_names_the_value():
    with pytest.raises(ConfigError, match="neuron.*'IF'"):
        ShdNet(6, 3, neuron="IF")
    with pytest.raises(ConfigError, match="recurrent"):
        ShdNet(6, 3, neuron="SPSN-SB", recurrent=True)
    with pytest.raises(ConfigError, match="loss_mode"):
        ShdNet(6, 3, loss_mode="median")
    with pytest.raises(ConfigError, match="x.shape"):
        _net("LIF")(torch.zeros(4, 6))


def test_schema_defaults_are_the_seed_run_py_and_cross_field_rule():
    schema = get_schema("spsn_shd")
    d = schema.defaults()
    assert (d["nb_epochs"], d["batch_size"], d["hidden_size"], d["nb_layers"], d["loss_mode"], d["lr"]) == (
        200, 64, 128, 3, "mean", 1e-3)
    assert (d["tau_mem"], d["tau_syn"], d["dt"], d["h_shift"], d["scale"], d["seed"]) == (
        0.02, 0.02, 1e-3, 0.1, 0.3, 0)
    with pytest.raises(ConfigError, match="recurrent"):
        schema.validate({"neuron": "LIF", "recurrent": True})


def test_regulariser_on_the_network_counts_real_steps_only():
    """One training step with the regulariser: the penalty is computed from masked spikes and is finite."""
    samples = _samples(1)
    data = SequenceDataset([x for x, _ in samples], torch.stack([y for _, y in samples]), ["a", "b", "c"], "seq")
    net = _net("SPSN-SB")
    reg = SpikeCountRegulariser(net.spiking_layers, reg_thr=0.01)
    trainer = Trainer(net, loss_fn=torch.nn.functional.cross_entropy,
                      optimizer=functools.partial(torch.optim.Adamax, lr=1e-3), epochs=1, batch_size=3, seed=0,
                      device="cpu", progress=False, collate_fn=functools.partial(pad_collate, pad="start"),
                      callbacks=[reg])
    history = trainer.fit(data)
    assert reg.last is not None and reg.last >= 0 and "spike_penalty" in history[-1]

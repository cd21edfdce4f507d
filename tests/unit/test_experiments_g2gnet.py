"""The G2GNet recipe the notebooks share: the schema's cross-field rules, the network, callbacks and
trainer a parameter set describes, cross-validation and the sparse summary."""

from __future__ import annotations

import pytest
import torch

from snnkit import config
from snnkit.errors import ConfigError
from snnkit.experiments import g2gnet as recipe
from snnkit.models import G2GNet
from snnkit.sparse import DynamicSparseTraining, MaskedLinear, build_masks
from snnkit.train import FiringRateRegulariser

NB = "g2gnet_fashionmnist"
SMALL = {"hidden_dim": 32, "T": 3, "epochs": 2, "batch_size": 16, "progress": False, "checkpoint": False}


def _p(**kw):
    return config.validate(NB, {**SMALL, **kw})


@pytest.mark.parametrize("params, key, words", [
    ({"model": "dense", "sparsity_mode": "dynamic"}, "sparsity_mode", "model='dense'"),
    ({"model": "index", "hidden_dim": 36}, "groups", "divisor of hidden_dim=36"),
    ({"model": "mixer", "hidden_dim": 32}, "groups", "hidden_dim / groups = 4 < groups"),
    ({"model": "index", "p_inter": 1.5}, "p_inter", "1"),
    ({"model": "index", "p_inter": -0.1}, "p_inter", "0"),
    ({"model": "index", "cp": "magnitude"}, "cp", "'set'"),
    ({"model": "index", "cg": "set"}, "cg", "'hebb'"),
    ({"model": "index", "groups": 32, "hidden_dim": 256}, "groups", "input width 784"),
    ({"model": "index", "hebb_window": 65}, "hebb_window", "64"),
])
def test_bad_g2g_settings_are_config_errors_naming_value_and_choices(params, key, words):
    with pytest.raises(ConfigError, match=f"'{key}'") as err:
        config.validate(NB, params)
    assert words in str(err.value)


def test_cross_field_rules_do_not_refuse_a_partial_override():
    """`--set sparsity_mode=dynamic` on a sparse profile run is checked when merged, not alone."""
    schema = config.get_schema(NB)
    assert schema.validate({"sparsity_mode": "dynamic"}, partial_ok=True) == {"sparsity_mode": "dynamic"}


def test_resnet_settings_must_name_one_backbone_and_only_with_use_resnet():
    nb = "g2gnet_cifar10"
    with pytest.raises(ConfigError, match="'resnet_weights'"):
        config.validate(nb, {"use_resnet": True})
    with pytest.raises(ConfigError, match="'resnet_pretrain_epochs' = 3.*not both"):
        config.validate(nb, {"use_resnet": True, "resnet_weights": "w.th", "resnet_pretrain_epochs": 3})
    for key, value in (("resnet_weights", "w.th"), ("resnet_pretrain_epochs", 2)):
        with pytest.raises(ConfigError, match=f"'{key}'.*use_resnet=true"):
            config.validate(nb, {key: value})
    with pytest.raises(ConfigError, match="input width 3072"):
        config.validate(nb, {"model": "index", "groups": 7, "hidden_dim": 49})


def test_resnet_features_are_rate_coded_unless_enc_is_given():
    nb = "g2gnet_cifar100"
    assert config.validate(nb, {"use_resnet": True, "resnet_pretrain_epochs": 1})["enc"] == "rate"
    assert config.validate(nb, {"use_resnet": True, "resnet_pretrain_epochs": 1, "enc": "current"})["enc"] == "current"
    assert config.validate(nb, {})["enc"] == "current"  # raw pixels: the constant current, as the paper


def test_schema_defaults_are_the_papers_settings():
    d = config.defaults(NB)
    assert (d["model"], d["groups"], d["p_intra"], d["p_inter"], d["sparsity_mode"], d["cp"], d["cg"]) == \
        ("dense", 8, 1.0, 0.15, "static", "set", "hebb")
    assert (d["dst_every"], d["dst_fraction"], d["hebb_window"], d["warmup_epochs"], d["k_folds"]) == (1000, 0.1, 1, 10, 1)
    assert (d["hidden_dim"], d["T"], d["batch_size"], d["epochs"], d["enc"]) == (2048, 50, 256, 20, "current")
    assert config.defaults("g2gnet_cifar100")["epochs"] == 30 and config.defaults("g2gnet_cifar100")["dataset"] == "cifar100"


@pytest.mark.parametrize("model", ["index", "random", "mixer"])
def test_from_params_builds_the_seeded_masks_of_the_model(model):
    P = _p(model=model, p_inter=0.2, groups=4)
    net = G2GNet.from_params(P, in_features=16, n_classes=3)
    layers = [m for m in net.layers]
    assert all(isinstance(m, MaskedLinear) for m in layers)
    expected = build_masks(model, [16, 32, 32, 32], groups=4, p_inter=0.2, seed=P["seed"])
    assert all(torch.equal(m.mask, e) for m, e in zip(layers, expected))
    other = G2GNet.from_params({**P, "seed": P["seed"] + 1}, in_features=16, n_classes=3)
    assert not torch.equal(other.layers[0].mask, layers[0].mask)
    assert isinstance(G2GNet.from_params(_p(), in_features=16, n_classes=3).layers[0], torch.nn.Linear)


def test_groups_must_divide_the_input_width_too():
    with pytest.raises(ConfigError, match="'groups'"):
        G2GNet.from_params(_p(model="index", groups=4), in_features=18, n_classes=3)


def test_callbacks_follow_the_parameters():
    net = G2GNet.from_params(_p(model="mixer", groups=4), in_features=16, n_classes=3)
    assert recipe.make_callbacks(_p(model="mixer", groups=4), net) == []
    cbs = recipe.make_callbacks(_p(model="mixer", groups=4, sparsity_mode="dynamic", cp="hebb", cg="random",
                                   dst_every=7, dst_fraction=0.2, hebb_window=3, regrow="keep",
                                   enforce_sparsity=True, warmup_epochs=1), net)
    dst, reg = cbs
    assert isinstance(dst, DynamicSparseTraining) and isinstance(reg, FiringRateRegulariser)
    assert (dst.every, dst.fraction, dst.prune, dst.grow, dst.window, dst.regrow) == (7, 0.2, "hebb", "random", 3, "keep")
    assert reg.modules == ["neurons.0", "neurons.1", "neurons.2"] and reg.warmup_epochs == 1
    dense = G2GNet.from_params(_p(), in_features=16, n_classes=3)
    with pytest.raises(ConfigError, match="'sparsity_mode'"):  # parameters bypassing the schema
        recipe.make_callbacks({**_p(model="index", groups=4), "sparsity_mode": "dynamic"}, dense)


def _data(n=48, features=16, classes=3, seed=0):
    from snnkit.data import ImageDataset

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.rand(n, features, generator=g) * 0.3 + torch.nn.functional.one_hot(y, features).float()
    return ImageDataset(x.reshape(n, 1, 4, 4), y, [str(c) for c in range(classes)], "toy", source="toy data")


def test_trainer_and_sparse_summary_of_a_dynamic_run(tmp_path):
    P = _p(model="index", groups=4, sparsity_mode="dynamic", dst_every=3, epochs=2)
    net = G2GNet.from_params(P, in_features=16, n_classes=3)
    trainer = recipe.make_trainer(P, net, device="cpu")
    assert isinstance(trainer.optimizer, torch.optim.Adam)
    assert trainer.optimizer.param_groups[0]["weight_decay"] == P["weight_decay"]
    trainer.fit(_data())
    summary = recipe.sparse_summary(P, net, trainer)
    masks = recipe.masks_of(net)
    assert summary["density"] == pytest.approx(sum(int(m.sum()) for m in masks.values())
                                               / sum(m.numel() for m in masks.values()))
    assert summary["expected_density"] == pytest.approx(1 / 4 + 3 / 4 * 0.15)
    assert summary["dst_events"] == 2  # 48 samples / 16 = 3 steps per epoch: events after steps 3 and 6
    assert summary["dst_rewired"] == sum(e["grown"] for e in recipe.dst_callback(trainer).events) > 0
    assert recipe.sparse_summary(_p(), G2GNet.from_params(_p(), in_features=16, n_classes=3)) == {}


class _Run:
    def __init__(self, path):
        self.ckpt_dir, self.params_hash, self.tables = path / "checkpoints", "abc", {}

    def table(self, df, name):
        self.tables[name] = df


@pytest.mark.parametrize("folds", ["stratified", "contiguous"])
def test_cross_validation_trains_each_fold_and_tabulates_mean_and_std(tmp_path, folds):
    P = _p(model="index", groups=4, k_folds=3, folds=folds, epochs=1, checkpoint=True)
    run = _Run(tmp_path)
    data = _data()
    cv = recipe.cross_validate_run(P, run, data, in_features=16, n_classes=3, device="cpu")
    assert [f["fold"] for f in cv.folds] == [1, 2, 3] and all(f["val_size"] == 16 for f in cv.folds)
    table = run.tables["cv_folds"]
    assert list(table["fold"]) == [1, 2, 3, "mean", "std"]
    assert table["val_accuracy"].iloc[3] == pytest.approx(cv.mean("val_accuracy"))
    assert table["val_accuracy"].iloc[4] == pytest.approx(cv.std("val_accuracy"))
    assert sorted(p.name for p in run.ckpt_dir.iterdir()) == ["fold1", "fold2", "fold3"]  # resumable per fold
    with pytest.raises(ConfigError, match="'k_folds'"):
        recipe.cross_validate_run(_p(), run, data, in_features=16, n_classes=3, device="cpu")


def test_exclusive_lock_serialises_two_processes(tmp_path):
    """Two processes entering the pre-training lock of one folder run one after the other."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import sys, time
        from snnkit.experiments.g2gnet import _exclusive
        with _exclusive({str(tmp_path / 'pretrain')!r}):
            open({str(tmp_path / 'log')!r}, 'a').write(sys.argv[1] + ' in\\n')
            time.sleep(0.5)
            open({str(tmp_path / 'log')!r}, 'a').write(sys.argv[1] + ' out\\n')
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, name]) for name in ("a", "b")]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    lines = (tmp_path / "log").read_text().split()
    pairs = [lines[i:i + 2] for i in range(0, 8, 2)]
    assert pairs[0][0] == pairs[1][0] and pairs[2][0] == pairs[3][0]  # "x in", "x out", then the other
    assert [pairs[1][1], pairs[3][1]] == ["out", "out"]

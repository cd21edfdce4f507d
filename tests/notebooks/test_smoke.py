"""Every notebook runs end to end through papermill on its smoke profile (as `make reports` does).

Asserts the run directory contract (executed notebook, metrics.json, provenance.json, figures,
tables, .DONE) and each notebook's minimum smoke-profile quality, so a silently broken pipeline
(e.g. a model that no longer learns) fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from snnkit import reproduce

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))

# Minimum smoke-profile results (measured values are well above these) and the figures each must write.
EXPECT = {
    "g2gnet_fashionmnist": {
        "min": {"test_accuracy": 0.70},  # chance: 0.10; measured 0.74-0.81 (T = 10, 5 epochs)
        "keys": {"tie_rate", "silent_rate", "macro_f1", "roc_auc", "firing_rate", "sparsity", "n_parameters",
                 "synops", "active_parameters"},
        "figures": {"training_curves", "confusion_matrix", "spike_raster", "firing_rates"},
        "tables": {"results", "per_class"},
        # what one run of the profile must add: its path of the notebook really ran
        "runs": {
            "mixer": {"keys": {"density", "expected_density"}, "figures": {"group_connectivity"}},
            "mixer_dst": {"keys": {"density", "dst_events"}, "figures": {"dst_events", "group_connectivity"}},
            "index_cv": {"keys": {"cv_val_accuracy_mean", "cv_val_accuracy_std"}, "tables": {"cv_folds"}},
        },
    },
    "g2gnet_cifar10": {
        "min": {"test_accuracy": 0.20},  # stand-in, chance: 0.10; measured 0.288 (mixer_dst), 0.31-0.32 (index_resnet)
        "keys": {"tie_rate", "silent_rate", "macro_f1", "roc_auc", "firing_rate", "sparsity", "n_parameters",
                 "synops", "active_parameters", "density"},
        "figures": {"training_curves", "confusion_matrix", "spike_raster", "firing_rates", "group_connectivity"},
        "tables": {"results", "per_class"},
        "runs": {"mixer_dst": {"keys": {"dst_events"}, "figures": {"dst_events"}}},
    },
    "g2gnet_cifar100": {
        "min": {"test_accuracy": 0.05},  # stand-in, chance: 0.01; measured 0.084 (dense), 0.088 (mixer_dst)
        "keys": {"tie_rate", "silent_rate", "macro_f1", "roc_auc", "firing_rate", "sparsity", "n_parameters",
                 "synops", "active_parameters"},
        "figures": {"training_curves", "confusion_matrix", "spike_raster", "firing_rates"},
        "tables": {"results", "per_class"},
        "runs": {"mixer_dst": {"keys": {"density", "dst_events"}, "figures": {"dst_events", "group_connectivity"}}},
    },
    "stdp_mnist": {
        # 270 training images cannot teach the R-STDP decision (accuracy stays near chance, 0.1); what must
        # happen is that the first layer learns by STDP: Mozafari's convergence mean w(1-w) is 0.158 for the
        # N(0.8, 0.05) start and rises while the weights of the winners' kernels are driven apart (measured
        # 0.204 after one epoch with the smoke profile's fast doubling; 0.158 means nothing was learned)
        "min": {"convergence_conv1": 0.175},
        "keys": {"macro_f1", "roc_auc", "silent_rate", "decided_accuracy", "val_accuracy", "best_epoch",
                 "train_time_s", "n_parameters", "inference_ms_per_sample"},
        "figures": {"confusion_matrix", "encoding_over_time", "accuracy_per_epoch", "l1_kernels", "l2_features",
                    "activation_maps"},
        "tables": {"results", "per_class", "history"},
    },
    "spsn_shd": {
        "min": {},
        "keys": {"macro_f1", "roc_auc", "tie_rate", "silent_rate", "epoch_time_s", "n_parameters", "synops"},
        "figures": {"training_curves", "confusion_matrix"},
        "tables": {"results", "per_class", "history", "beside_published", "language_confusion"},
        "runs": {
            # 600 stand-in utterances, 3 epochs: chance is 0.05; measured 0.36
            "lif_basic": {"min": {"test_accuracy": 0.15}, "keys": {"firing_rate"},
                          "figures": {"layer_rasters", "spike_raster", "firing_rates"}},
            "spsn_sb_aug_reg": {"keys": {"firing_rate", "firing_rate_neurons_0"}, "figures": {"layer_rasters"}},
            "paralif_recurrent": {"keys": {"firing_rate"}, "figures": {"layer_rasters"}},
        },
    },
    "stds_cifar10": {
        "min": {},
        "keys": {"macro_f1", "tie_rate", "silent_rate", "firing_rate", "sparsity", "connectivity", "synops",
                 "n_parameters", "prunable_weights", "sparsity_conv1", "sparsity_fc7"},
        "figures": {"training_curves", "confusion_matrix", "layer_sparsity", "spine_states",
                    "accuracy_vs_connectivity"},
        "tables": {"results", "per_class", "history", "beside_published"},
        "runs": {
            # 1000 stand-in images, 2 epochs: chance is 0.10
            "dense": {"min": {"test_accuracy": 0.25}},
            # the flat zone must have silenced weights (D ends at 0.03)
            "stmod_sine": {"min": {"sparsity": 0.05}, "keys": {"flat_width_final"}, "figures": {"schedule"}},
            "gradr": {"figures": {"schedule"}},
        },
    },
    "stds_imagenet": {
        "min": {},
        "keys": {"test_top5", "train_top1", "macro_f1", "firing_rate", "sparsity", "connectivity", "synops",
                 "n_parameters", "prunable_weights", "sparsity_conv1", "sparsity_layer4.1.conv2.0"},
        "figures": {"training_curves", "confusion_matrix", "layer_sparsity", "spine_states"},
        "tables": {"results", "per_class", "history", "beside_published"},
        "runs": {
            # the ImageNet stand-in (300 train / 100 val images, 10 classes), width 8, 8 epochs: chance is 0.10
            # (top-5: 0.5); measured top-1 0.23-0.26, top-5 0.82-0.84
            "dense": {"min": {"test_accuracy": 0.18, "test_top5": 0.6}},
            # the flat zone must have silenced weights (D ends at 0.05; measured 0.51)
            "stmod_sine": {"min": {"sparsity": 0.2}, "keys": {"flat_width_final"}, "figures": {"schedule"}},
        },
    },
}
REQUIRED_KEYS = {"notebook", "profile", "run", "dataset", "stand_in", "seed", "wall_time_s"}


def test_every_notebook_has_expectations():
    assert set(NOTEBOOKS) == set(EXPECT), "add the new notebook's smoke expectations to EXPECT"


@pytest.fixture(scope="module")
def smoke_reports(tmp_path_factory) -> Path:
    reports = tmp_path_factory.mktemp("reports")
    rc = reproduce.main(["--root", str(ROOT), "--reports-dir", str(reports), "--profile", "smoke"])
    assert rc == 0, "a smoke run failed; see the summary printed above"
    return reports


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_smoke_run(smoke_reports: Path, name: str):
    runs = yaml.safe_load((ROOT / "params" / name / "smoke.yaml").read_text())
    run_names = list(runs["runs"]) if "runs" in runs else ["default"]
    for run in run_names:
        run_dir = smoke_reports / name / "smoke" / run
        for f in ("executed.ipynb", "metrics.json", "provenance.json", ".DONE"):
            assert (run_dir / f).is_file(), f"{run_dir} lacks {f}"
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert REQUIRED_KEYS <= metrics.keys()
        assert metrics["notebook"] == name and metrics["profile"] == "smoke" and metrics["run"] == run
        own = EXPECT[name].get("runs", {}).get(run, {})
        assert EXPECT[name]["keys"] | own.get("keys", set()) <= metrics.keys()
        prov = json.loads((run_dir / "provenance.json").read_text())
        for split, record in prov["data"].items():  # the folder and checksums actually read, per split
            assert record["origin"]["files"], f"{name}/{run}: provenance names no file read for {split}"
        for key, low in {**EXPECT[name]["min"], **own.get("min", {})}.items():
            assert metrics[key] >= low, f"{name}/{run}: {key} = {metrics[key]} < {low}"
        for key, high in EXPECT[name].get("max", {}).items():
            assert metrics[key] <= high, f"{name}/{run}: {key} = {metrics[key]} > {high}"
        figures = {p.stem for p in (run_dir / "figures").glob("*.png")}
        assert EXPECT[name]["figures"] | own.get("figures", set()) <= figures
        tables = {p.stem for p in (run_dir / "tables").glob("*.csv")}
        assert EXPECT[name]["tables"] | own.get("tables", set()) <= tables
    index = (smoke_reports / "index.md").read_text()
    assert f"notebooks/{name}.ipynb" in index


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_bad_parameter_stops_in_first_code_cell(tmp_path, name: str):
    """Executed directly (as in JupyterLab or plain papermill), a bad value is a ConfigError raised by the
    validation cell right after the parameters — before any data is loaded."""
    import papermill as pm

    nb = ROOT / "notebooks" / f"{name}.ipynb"
    out = tmp_path / "executed.ipynb"
    with reproduce.kernel_env():
        with pytest.raises(pm.PapermillExecutionError) as err:
            pm.execute_notebook(
                str(nb), str(out), parameters={"seed": -5, "snnkit_run": {"run_dir": str(tmp_path / "run")}},
                kernel_name=reproduce.KERNEL_NAME, cwd=str(nb.parent), progress_bar=False,
            )
    assert err.value.ename == "ConfigError"
    assert len(err.value.traceback) == 1, "a ConfigError shows as one line, not a kernel traceback"
    assert "'seed'" in err.value.evalue and "-5" in err.value.evalue
    executed = __import__("nbformat").read(out, as_version=4)
    code_cells = [c for c in executed.cells if c.cell_type == "code"]
    # parameters, injected parameters, validation: the error is in the third code cell, nothing ran after it
    assert "ConfigError" in str(code_cells[2].get("outputs"))
    assert all(not c.get("outputs") for c in code_cells[3:])
    assert not (tmp_path / "run").exists(), "the run directory was created before validation"

"""The main job (topometrics.workflows.rank / topometrics rank) on small configurations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.ranking import mean_rbo
from topometrics.workflows import RankJob, published_ranking
from topometrics.workflows.rank import networks as rank_networks

# 4 methods x 2 reference data sets = 8 rows per Sparsity-Fixed group: enough for the inner CVs.
METHODS = ("uniform", "er", "erk", "snip")
SMALL = dict(methods=METHODS, sparsities=(0.98,), input_shape=(3, 8, 8), n_repeats=2, progress=False, n_jobs=1)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rank")
    job = RankJob(**SMALL)
    return job, job.run(out), out


def test_outputs_written(small_run):
    job, result, out = small_run
    for name in ("networks.csv", "rankings.csv", "rbo.csv", "coefficients.csv", "importance.csv", "report.md", "ranking.png", "config.json"):
        assert (out / name).is_file(), name
    nets = pd.read_csv(out / "networks.csv")
    # target + 2 references, 4 methods, 1 sparsity; every network encoded and measured
    assert len(nets) == 12 and set(nets["dataset"]) == {"cifar10", "cifar100", "tinyimagenet"}
    assert (nets["num_edges"] > 0).all() and nets[["motif4", "spectral_gap", "layer_density"]].notna().all().all()
    assert set(nets.groupby("dataset")["num_classes"].first().items()) == {("cifar10", 10), ("cifar100", 100), ("tinyimagenet", 200)}
    assert (out / "ranking.png").stat().st_size > 10_000


def test_rankings_are_permutations_and_mixture_follows_coefficients(small_run):
    job, result, _ = small_run
    for strat, grp in result.rankings.groupby("strategy"):
        assert sorted(grp["method"]) == sorted(METHODS), strat
        assert sorted(grp["position"]) == [1, 2, 3, 4]
    mix = result.rankings[result.rankings["strategy"] == "mixture"].sort_values("position")["method"].tolist()
    coef = result.coefficients.set_index("method")["coefficient"]
    assert mix == sorted(coef.index, key=lambda m: (coef[m], m))  # ascending coefficient, best first


def test_published_ranking_and_rbo(small_run, reference_dir):
    job, result, _ = small_run
    # independent reading of the shipped table against the reference copy in ../shared
    raw = pd.read_csv(reference_dir / "pai_accuracy.csv")
    sub = raw[(raw.dataset == "cifar10") & (raw.arch == "resnet20") & np.isclose(raw.sparsity, 0.98) & raw.pruner.str.lower().isin(METHODS)]
    truth = sub.sort_values(["acc_mean", "pruner"], ascending=[False, True])["pruner"].str.lower().tolist()
    assert published_ranking("resnet20", "cifar10", 0.98, METHODS) == truth
    pub = result.rankings[result.rankings["strategy"] == "published"].sort_values("position")["method"].tolist()
    assert pub == truth
    for strat in ("mixture", "layer_density", "delta_r", "delta_r_imdb", "lambda_imsg"):
        order = result.rankings[result.rankings["strategy"] == strat].sort_values("position")["method"].tolist()
        got = result.rbo.set_index("strategy").loc[strat, "rbo"]
        assert got == pytest.approx(mean_rbo(order, truth))
    text = result.to_text()
    assert "digits" in text and "nothing about cifar10's accuracies is used" in text


def test_baseline_density_ranking(small_run):
    job, result, _ = small_run
    nets = result.networks[result.networks["dataset"] == "cifar10"].set_index("method")
    dens = result.rankings[result.rankings["strategy"] == "layer_density"].sort_values("position")["method"].tolist()
    assert dens == sorted(nets.index, key=lambda m: (-nets.loc[m, "layer_density"], m))


def test_importance_uses_reference_data_only(small_run):
    job, result, _ = small_run
    table = job.reference_table(result.networks[[c for c in result.networks.columns if not c.startswith("published_")]])
    assert set(table["dataset"]) == {"cifar100", "tinyimagenet"}
    assert table["accuracy"].between(0, 1).all() and table["dense_accuracy"].between(0, 1).all()
    assert list(result.importance.w_arch.index) == ["resnet20"]


def test_resume_skips_finished_networks(small_run, monkeypatch):
    job, result, out = small_run

    def boom(spec):
        raise AssertionError(f"network {spec['method']} was recomputed")

    monkeypatch.setattr(rank_networks, "network_task", boom)
    again = RankJob(**SMALL).run(out)
    pd.testing.assert_frame_equal(again.rankings, result.rankings)


def test_interrupted_run_keeps_finished_networks(tmp_path, monkeypatch):
    calls = []
    real = rank_networks.network_task

    def flaky(spec):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(spec["method"])
        return real(spec)

    monkeypatch.setattr(rank_networks, "network_task", flaky)
    with pytest.raises(KeyboardInterrupt):
        RankJob(**SMALL).run(tmp_path)
    assert len(pd.read_csv(tmp_path / "networks.csv")) == 2


def test_worker_processes_give_the_same_networks(tmp_path):
    """Two worker processes (one thread each) produce exactly the rows one process produces."""
    cfg = dict(methods=("uniform", "snip"), sparsities=(0.98,), input_shape=(3, 8, 8), references=("cifar100",),
               reference_methods=("uniform", "snip"), progress=False)  # no pooling: the networks are the subject
    one = RankJob(n_jobs=1, **cfg).networks()
    two = RankJob(n_jobs=2, **cfg).networks(tmp_path / "networks.csv")
    cols = [c for c in one.columns if not c.endswith("_seconds")]
    pd.testing.assert_frame_equal(one[cols], two[cols])
    assert len(pd.read_csv(tmp_path / "networks.csv")) == 4


def test_worker_processes_from_a_script_without_main_guard(tmp_path):
    """A plain script (no ``if __name__ == "__main__":``) can run the job with worker processes:
    multiprocessing's spawn would re-run the script in every worker and fail."""
    import subprocess
    import sys

    script = tmp_path / "plain.py"
    script.write_text(
        "from topometrics.workflows import RankJob\n"
        "job = RankJob(methods=('uniform', 'er'), sparsities=(0.98,), input_shape=(3, 8, 8), references=('cifar100',),\n"
        "              reference_methods=('uniform', 'er'), progress=False, n_jobs=2)\n"
        "print('rows', len(job.networks()))\n"
    )
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines() == ["rows 4"]


def test_bad_configurations():
    with pytest.raises(ValueError, match="at least two"):
        RankJob(methods=("snip",))
    with pytest.raises(ValueError, match="between 0 and 1"):
        RankJob(sparsities=(1.0,))
    with pytest.raises(ValueError, match="unknown"):
        RankJob(arch="vgg19")
    with pytest.raises(ValueError, match="reference"):
        RankJob(dataset="cifar100", references=("cifar100",))


def test_unpublished_sparsity_is_a_clear_error(tmp_path):
    job = RankJob(methods=("uniform", "er"), sparsities=(0.5,), input_shape=(3, 8, 8), n_repeats=1, progress=False)
    with pytest.raises(ValueError, match="published no accuracies"):
        job.run(tmp_path)


def test_missing_real_data_names_the_layout(tmp_path):
    job = RankJob(methods=("uniform", "snip"), sparsities=(0.9,), data_root=str(tmp_path / "nowhere"), progress=False)
    with pytest.raises(Exception, match="cifar"):
        job.networks()


def test_rank_own_checkpoints_with_measured_accuracy(tmp_path):
    import pruners
    from pruners.pipeline import prune_model

    paths = []
    for i, method in enumerate(METHODS):
        model, masks, meta = prune_model("resnet20", method, 0.98, num_classes=10, input_shape=(3, 8, 8), random_state=0, data=_digits())
        meta.update(dataset="cifar10", accuracy=0.5 + 0.1 * i)  # pretend they were trained
        paths.append(pruners.save_checkpoint(tmp_path / f"{method}.pt", model, masks, meta))
    job = RankJob.from_checkpoints(paths, n_repeats=2, progress=False, n_jobs=1)
    assert job.arch == "resnet20" and job.sparsities == (0.98,) and set(job.methods) == set(METHODS)
    result = job.run(tmp_path / "out", checkpoints=paths)
    measured = result.rankings[result.rankings["strategy"] == "measured"].sort_values("position")["method"].tolist()
    assert measured == list(reversed(METHODS))  # highest pretend accuracy first
    assert "checkpoint" in result.networks.columns
    assert (result.networks["dataset"] == "cifar10").sum() == len(METHODS)


def test_checkpoints_are_batch_tasks_resumed_by_content(tmp_path, monkeypatch):
    """``networks_from_checkpoints`` runs on the batch layer: rows in the order given, the same with two worker
    processes, kept in its table, and a rerun measures only a checkpoint whose bytes changed."""
    import pruners
    from pruners.pipeline import prune_model

    paths = []
    for method in ("uniform", "erk", "snip"):
        model, masks, meta = prune_model("resnet20", method, 0.98, num_classes=10, input_shape=(3, 8, 8), random_state=0,
                                         data=_digits())
        paths.append(pruners.save_checkpoint(tmp_path / f"{method}.pt", model, masks, {**meta, "dataset": "cifar10"}))
    table = tmp_path / "checkpoints.csv"
    first = rank_networks.networks_from_checkpoints(paths, progress=False, table=table)
    assert first["method"].tolist() == ["uniform", "erk", "snip"]
    two = rank_networks.networks_from_checkpoints(paths, progress=False, n_jobs=2)
    pd.testing.assert_frame_equal(first, two)
    calls = []
    real = rank_networks.measure
    monkeypatch.setattr(rank_networks, "measure", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = rank_networks.networks_from_checkpoints(paths, progress=False, table=table)
    assert calls == [] and again["num_edges"].tolist() == first["num_edges"].tolist()
    model, masks, meta = prune_model("resnet20", "uniform", 0.9, num_classes=10, input_shape=(3, 8, 8), random_state=1)
    pruners.save_checkpoint(paths[0], model, masks, {**meta, "dataset": "cifar10"})  # the file changes
    changed = rank_networks.networks_from_checkpoints(paths, progress=False, table=table)
    assert len(calls) == 1 and changed["sparsity"].tolist() == [0.9, 0.98, 0.98]
    assert changed["num_edges"].iloc[0] > first["num_edges"].iloc[0]


def test_cli_rank_small(tmp_path, capsys):
    from topometrics.cli import main

    out = tmp_path / "cli"
    code = main(["rank", "--methods", ",".join(METHODS), "--sparsity", "0.98", "--input-shape", "3,8,8", "--repeats", "2", "-j", "1", "--out", str(out), "-q"])
    assert code == 0
    text = capsys.readouterr().out
    assert "topometric mixture" in text and "RBO" in text and str(out.resolve()) in text
    assert main(["rank", "--methods", "snip", "--out", str(out), "-q"]) == 2
    assert "at least two" in capsys.readouterr().err


_DIGITS = {}


def _digits():
    from pruners.data import get_dataset

    if "d" not in _DIGITS:
        _DIGITS["d"] = get_dataset("digits", None, "train", augment=False, input_shape=(3, 8, 8))
    return _DIGITS["d"]


def test_convergence_warnings_are_counted_in_the_notes(monkeypatch):
    """Convergence warnings of the CV fits go into the report as one note; other warnings pass through."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from topometrics.workflows.rank import job as job_module

    def fake_importance(table, features, **kwargs):
        for i in range(3):
            warnings.warn(f"fit {i} stopped at max_iter", ConvergenceWarning)
        warnings.warn("something else", UserWarning)
        return "model"

    job = RankJob(**SMALL)
    monkeypatch.setattr(job_module, "estimate_importance", fake_importance)
    monkeypatch.setattr(RankJob, "reference_table", lambda self, networks: networks)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert job.importance(pd.DataFrame()) == "model"
    assert [str(w.message) for w in caught] == ["something else"]
    assert any(n.startswith("3 cross-validation fits") and "fit 0 stopped at max_iter" in n for n in job.notes())

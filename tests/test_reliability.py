"""Sharp edges a new user hits (issue 11), end to end through the command line where it is a CLI behaviour.

Each test failed before its fix: a fully pruned network accepted (exit 0), a network cut in
two measured without a word, a checkpoint missing one layer's mask treated as dense, a
saved graph without ``partitions`` giving a KeyError traceback, ``train`` ignoring an
``--input-shape`` that contradicts the checkpoint, third-party messages cut mid-sentence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import pruners
from pruners.pipeline import prune_model

from _checkpoints import small_checkpoint
from topocore.errors import MaskError, brief

REPO = Path(__file__).resolve().parents[1]


def _cli(*args, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run([sys.executable, "-m", "topometrics", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _one_error_line(done, command: str) -> str:
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"topometrics {command}: error: "), lines
    return lines[0]


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """ResNet-20 (3x8x8) checkpoints: pruned, fully pruned, cut in two (first conv empty), one mask missing."""
    root = tmp_path_factory.mktemp("nets")
    _, model, masks, meta = small_checkpoint(root)
    pruners.save_checkpoint(root / "zero.pt", model, {k: torch.zeros_like(v) for k, v in masks.items()}, meta)
    cut = dict(masks, **{"conv1.weight": torch.zeros_like(masks["conv1.weight"])})
    pruners.save_checkpoint(root / "cut.pt", model, cut, meta)
    payload = torch.load(root / "good.pt", weights_only=True)
    del payload["masks"]["layer1.0.conv2.weight"]
    torch.save(payload, root / "missing-mask.pt")
    return root


# ----------------------------------------------------------------------------- item 3
@pytest.mark.parametrize("command", ["encode", "train"])
def test_fully_pruned_network_is_refused(nets, tmp_path, command):
    args = [command, nets / "zero.pt"] + (["--dataset", "digits", "--epochs", "1", "-o", tmp_path / "t.pt"]
                                          if command == "train" else ["-o", tmp_path / "g.npz"])
    line = _one_error_line(_cli(*args, cwd=tmp_path), command)
    assert "zero.pt is fully pruned" in line and "270,896 prunable weights" in line and "sparsity below 1" in line
    assert list(tmp_path.iterdir()) == []


def test_fully_pruned_network_is_a_failing_metrics_input(nets, tmp_path):
    """metrics is a batch command: the fully pruned input fails (exit 1), the other one is measured."""
    done = _cli("metrics", nets / "zero.pt", nets / "good.pt", "-o", tmp_path / "m.csv", "-q", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "zero.pt is fully pruned" in done.stderr
    table = pd.read_csv(tmp_path / "m.csv")
    good = table[table["checkpoint"].astype(str).str.endswith("good.pt")]
    assert len(good) == 1 and bool(good["connected_input_output"].item())


def test_fully_pruned_python_api():
    from topocore.masks import check_not_fully_pruned, kept_counts

    model, masks, _ = prune_model("resnet20", "uniform", 0.9, num_classes=10, input_shape=(3, 8, 8), random_state=0)
    zero = {k: torch.zeros_like(v) for k, v in masks.items()}
    with pytest.raises(MaskError, match="fully pruned"):
        check_not_fully_pruned(model, zero)
    check_not_fully_pruned(model, masks)
    counts = kept_counts(model, masks)
    assert sum(t for _, t in counts.values()) == sum(m.numel() for m in masks.values())
    assert sum(k for k, _ in counts.values()) == sum(int(m.sum()) for m in masks.values())
    from pruners.data import get_dataset

    data = get_dataset("digits", None, "train", input_shape=(3, 8, 8))
    with pytest.raises(MaskError, match="fully pruned"):
        pruners.train(model, zero, data, epochs=1)


def test_network_cut_in_two_warns_and_says_so_in_a_column(nets, tmp_path):
    done = _cli("encode", nets / "cut.pt", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"topometrics encode: warning: {nets / 'cut.pt'} is cut in two: no path leads from its input to its output "
        "(log_paths -inf), so its output does not depend on its input"
    ]
    done = _cli("metrics", nets / "cut.pt", nets / "good.pt", "--metrics", "sink,n1", "-o", tmp_path / "m.csv", "-q",
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    warned = [l for l in done.stderr.splitlines() if "warning" in l]
    assert len(warned) == 1 and "cut.pt is cut in two" in warned[0] and "connected_input_output" in warned[0]
    table = pd.read_csv(tmp_path / "m.csv").set_index("checkpoint")
    flags = {Path(k).name: bool(v) for k, v in table["connected_input_output"].items()}
    assert flags == {"cut.pt": False, "good.pt": True}
    assert "log_paths" not in table.columns  # only probed, not requested


def test_connected_input_output_oracle():
    """Against networkx: is some output node reachable from some input node."""
    import networkx as nx

    from encoders import encode
    from topometrics.paths import connected_input_output

    model, masks, _ = prune_model("resnet20", "uniform", 0.9, num_classes=10, input_shape=(3, 8, 8), random_state=0)
    for cut_layer in (None, "conv1.weight", "linear.weight", "layer1.0.conv1.weight"):
        m = dict(masks)
        if cut_layer:
            m[cut_layer] = torch.zeros_like(m[cut_layer])
        g = encode(model, (3, 8, 8), m)
        nxg = nx.DiGraph()
        nxg.add_nodes_from(range(g.num_nodes))
        nxg.add_edges_from(zip(g.src.tolist(), g.dst.tolist()))
        first, last = g.partitions[0], g.partitions[-1]
        nxg.add_edges_from((-1, s) for s in range(first.offset, first.offset + first.size))  # one super source
        reach = nx.descendants(nxg, -1)
        want = any(t in reach for t in range(last.offset, last.offset + last.size))
        assert connected_input_output(g) == want, cut_layer
        if cut_layer in ("conv1.weight", "linear.weight"):
            assert not want


# ----------------------------------------------------------------------------- item 4
@pytest.mark.parametrize("command", ["encode", "metrics", "train"])
def test_missing_mask_is_refused_with_the_layer_name(nets, tmp_path, command):
    extra = {"encode": ["-q"], "metrics": ["-o", tmp_path / "m.csv", "--stop-on-error", "-q"],
             "train": ["--dataset", "digits", "--epochs", "1", "-o", tmp_path / "t.pt"]}[command]
    line = _one_error_line(_cli(command, nets / "missing-mask.pt", *extra, cwd=tmp_path), command)
    assert "no mask for the prunable layer(s) layer1.0.conv2.weight" in line and "--missing-masks dense" in line
    assert list(tmp_path.iterdir()) == []


def test_missing_masks_dense_is_explicit(nets, tmp_path):
    done = _cli("encode", nets / "missing-mask.pt", "--missing-masks", "dense", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    dense = pruners.load_checkpoint(nets / "missing-mask.pt", missing_masks="dense")
    assert bool(dense.masks["layer1.0.conv2.weight"].all())
    with pytest.raises(pruners.CheckpointError, match="layer1.0.conv2.weight"):
        pruners.load_checkpoint(nets / "missing-mask.pt")


def test_state_dict_with_partial_masks(nets, tmp_path):
    from topometrics.workflows.inputs import load_network

    ck = pruners.load_checkpoint(nets / "good.pt", install_masks=False)
    masks = dict(ck.masks)
    masks.pop("linear.weight")
    torch.save({"state_dict": ck.model.state_dict(), "masks": masks}, tmp_path / "sd.pt")
    with pytest.raises(pruners.CheckpointError, match="linear.weight"):
        load_network(tmp_path / "sd.pt", arch="resnet20", input_shape=(3, 8, 8))
    net = load_network(tmp_path / "sd.pt", arch="resnet20", input_shape=(3, 8, 8), missing_masks="dense")
    assert "linear.weight" not in net.masks


# ----------------------------------------------------------------------------- item 7
def test_saved_graph_without_partitions_is_one_line(nets, tmp_path):
    assert _cli("encode", nets / "good.pt", "-o", tmp_path / "g.npz", "-q", cwd=tmp_path).returncode == 0
    with np.load(tmp_path / "g.npz") as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(bytes(arrays["header"]).decode())
    del header["partitions"]
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    line = _one_error_line(_cli("metrics", tmp_path / "bad.npz", "-o", tmp_path / "m.csv", "--stop-on-error", "-q",
                                cwd=tmp_path), "metrics")
    assert "damaged graph file" in line and "lacks 'partitions'" in line and "re-create it" in line
    assert not (tmp_path / "m.csv").exists()


@pytest.mark.parametrize("command,args", [
    ("train", ["good.pt", "--dataset", "digits", "--epochs", "1"]),
    ("analyze", ["table.csv"]),
    ("prune", ["--arch", "resnet20", "--method", "uniform", "--sparsity", "0.9"]),
])
def test_unwritable_output_fails_before_the_work(nets, tmp_path, command, args):
    """train failed after its first epoch, analyze after all its computing: now at once, nothing written."""
    (tmp_path / "good.pt").write_bytes((nets / "good.pt").read_bytes())
    pd.DataFrame({"arch": ["resnet20"], "dataset": ["digits"], "method": ["snip"], "sparsity": [0.9], "seed": [0],
                  "accuracy": [0.5], "dense_accuracy": [0.9], "sink": [1.0]}).to_csv(tmp_path / "table.csv", index=False)
    (tmp_path / "blocker").write_text("x")
    out = ["--out", "blocker/out"] if command == "analyze" else ["-o", "blocker/out.pt"]
    before = sorted(p.name for p in tmp_path.iterdir())
    line = _one_error_line(_cli(command, *args, *out, cwd=tmp_path), command)
    assert "cannot write" in line and "blocker is a file, not a folder" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# ----------------------------------------------------------------------------- item 8
def test_train_refuses_an_input_shape_that_contradicts_the_checkpoint(nets, tmp_path):
    line = _one_error_line(_cli("train", nets / "good.pt", "--dataset", "digits", "--input-shape", "1,8,8",
                                "--epochs", "1", "-o", tmp_path / "t.pt", cwd=tmp_path), "train")
    assert "built with --input-shape 3,8,8, not 1,8,8" in line and "drop --input-shape" in line
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- item 10
def test_refused_pickle_is_explained_plainly(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    line = _one_error_line(_cli("encode", tmp_path / "evil.pt", cwd=tmp_path), "encode")
    assert "holds Python objects (the first: posix.system) that the safe weights_only loading refuses" in line
    assert line.endswith("(they hold only tensors and plain data).")
    assert "pwned" not in line


def test_corrupt_checkpoint_message_ends_with_a_sentence(tmp_path):
    (tmp_path / "c.pt").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    line = _one_error_line(_cli("encode", tmp_path / "c.pt", cwd=tmp_path), "encode")
    assert "failed finding central directory.)" in line and "If you are seeing" not in line


def test_brief():
    assert brief("First sentence. Second one.") == "First sentence."
    assert brief("") == "no details"
    long = "word " * 100
    out = brief(long, 50)
    assert len(out) <= 54 and out.endswith(" ...") and "wor ..." not in out
    assert brief("one\n  line. Two") == "one line."


def test_first_compilation_is_announced(monkeypatch, tmp_path, capsys):
    from topometrics import _numba

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert _numba.first_compilation()
    assert not _numba.announce_compilation("rank")  # stderr is no terminal: errors stay one line in logs and pipes
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert _numba.announce_compilation("rank")
    assert capsys.readouterr().err == ("topometrics rank: compiling the numba kernels once (1-2 minutes on 2 cores; "
                                       "they are cached for later runs)\n")
    for name in _numba.KERNEL_MODULES:  # numba's index files of every kernel module: nothing to compile
        (tmp_path / f"{name.split('.')[-1]}.kernel-10.py311.nbi").write_bytes(b"")
    assert not _numba.first_compilation() and not _numba.announce_compilation("rank")
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- item 13
def test_prune_prints_and_stores_layer_densities(tmp_path):
    done = _cli("prune", "--arch", "resnet20", "--method", "erk", "--sparsity", "0.9", "--input-shape", "3,8,8",
                "-o", tmp_path / "p.pt", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ck = pruners.load_checkpoint(tmp_path / "p.pt")
    densities = ck.meta["layer_densities"]
    assert list(densities) == list(ck.masks)
    for name, mask in ck.masks.items():
        assert densities[name] == pytest.approx(float(mask.float().mean()), abs=1e-6)
    lines = done.stdout.splitlines()
    assert "layer densities (kept / weights):" in lines
    assert any(l.split()[:1] == ["conv1.weight"] and f"{densities['conv1.weight']:.4f}" in l for l in lines)
    from topometrics.workflows.inputs import load_network

    assert "layer_densities" not in load_network(tmp_path / "p.pt").meta  # bookkeeping, not a table column


def test_notebooks_extra_and_where_the_published_data_come_from(tmp_path):
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("jupyterlab") for r in extras["notebooks"])
    readme = (REPO / "README.md").read_text()
    assert 'pip install -e ".[notebooks]"' in readme and "github.com/eliacunegatti/mge-snn" in readme
    line = _one_error_line(_cli("reproduce", "--data", "nowhere", "--out", "r", cwd=tmp_path), "reproduce")
    assert "git clone https://github.com/eliacunegatti/mge-snn" in line and "--data mge-snn/graph_data" in line


# ----------------------------------------------------------------------------- item 8 (analyze)
def _results_table(n: int = 10) -> pd.DataFrame:
    methods = ["snip", "grasp", "synflow", "prospr", "uniform"]
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "arch": "resnet20", "dataset": "cifar10", "method": [methods[i % 5] for i in range(n)],
        "sparsity": [0.9 if i < 5 else 0.95 for i in range(n)], "seed": 0,
        "accuracy": rng.uniform(0.5, 0.9, n).round(4), "dense_accuracy": 0.92,
        "sink": rng.uniform(0, 1, n), "kcore": rng.uniform(1, 3, n),
    })


def test_analyze_names_dropped_rows_in_a_warning():
    from analysis.pipeline import DroppedRowsWarning, prepare_results_table

    table = _results_table()
    table["accuracy"] = table["accuracy"].astype(object)
    table.loc[1, "accuracy"] = "n/a"
    table.loc[4, "sink"] = np.inf
    report: list[str] = []
    with pytest.warns(DroppedRowsWarning) as caught:
        out, feats = prepare_results_table(table, features=["sink", "kcore"], report=report)
    messages = [str(w.message) for w in caught]
    assert "left out 1 rows without an accuracy" in messages[0] and "line 3 (resnet20/cifar10/grasp/0.9, seed 0)" in messages[0]
    assert "non-finite" in messages[1] and "line 6 (resnet20/cifar10/uniform/0.9, seed 0)" in messages[1]
    assert len(out) == 8 and any("line 3" in r for r in report)


@pytest.mark.parametrize("case,expect", [
    ("negative", "1 rows have a negative accuracy (line 2 (resnet20/cifar10/snip/0.9, seed 0))"),
    ("all_nan", "feature column(s) ['sink'] hold no finite value in any row"),
    ("mostly_bad", "6 of the 10 sparse networks of the results table are unusable"),
])
def test_analyze_refuses_bad_tables_in_one_line(tmp_path, case, expect):
    table = _results_table()
    if case == "negative":
        table.loc[0, "accuracy"] = -0.3
    elif case == "all_nan":
        table["sink"] = np.nan
    else:
        table.loc[:5, "kcore"] = np.nan
    table.to_csv(tmp_path / "t.csv", index=False)
    line = _one_error_line(_cli("analyze", "t.csv", "--features", "sink,kcore", "--out", "a", cwd=tmp_path), "analyze")
    assert expect in line and "divide percent" not in line and "results table is empty" not in line
    assert not (tmp_path / "a").exists()


def test_analyze_parse_error_names_the_file(tmp_path):
    (tmp_path / "t.csv").write_text('arch,dataset\n"resnet20,cifar10\nx,y,z,w\n')
    line = _one_error_line(_cli("analyze", "t.csv", "--out", "a", cwd=tmp_path), "analyze")
    assert "t.csv is not a readable csv table" in line


# ----------------------------------------------------------------------------- item 11
def _summary(adj: float, mae: float) -> pd.DataFrame:
    return pd.DataFrame({
        "scenario": ["sparsity", "sparsity", "architecture"], "encoding": "unrolled", "group": [0.9, 0.95, "resnet20"],
        "regressor": "mean", "adj_r2_mean": [adj, np.nan, adj], "adj_r2_std": [0.0, np.nan, 0.0],
        "mae_mean": [mae, 0.1, 0.1], "mae_std": 0.01,
    })


def test_adjusted_r2_figure_says_why_bars_are_missing():
    from analysis.figures import regression_figure

    fig = regression_figure(_summary(np.nan, 0.1))
    texts = {ax.get_title(): " ".join(t.get_text() for t in ax.texts) for ax in fig.axes}
    assert "every group" in texts["Sparsity-Fixed"] and "n <= p + 1" in texts["Sparsity-Fixed"].replace("\n", " ")
    fig = regression_figure(_summary(0.5, 0.1))
    texts = {ax.get_title(): " ".join(t.get_text() for t in ax.texts).replace("\n", " ") for ax in fig.axes}
    assert "group(s) 0.95" in texts["Sparsity-Fixed"] and texts["Architecture-Fixed"] == ""


def test_long_figure_titles_are_wrapped():
    from analysis.figures import importance_heatmap  # noqa: F401 - the module with the titles
    import textwrap

    title = "Pearson r with predicted accuracy drop (architecture, rolled_channel)"
    assert max(len(l) for l in textwrap.fill(title, 48).splitlines()) <= 48
    src = (REPO / "analysis" / "figures.py").read_text()
    assert "ax.set_title(title, fontsize=9)" not in src  # every free-text title goes through textwrap.fill


def test_meaningless_regression_error_is_reported():
    from analysis.pipeline import poor_fits

    assert poor_fits(_summary(0.2, 0.3)) == []
    (message,) = poor_fits(_summary(0.2, 2.6))
    assert "mean absolute error of 2.6" in message and "group 0.9" in message and "meaningless" in message

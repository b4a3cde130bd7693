"""Every command example of README.md and of every subcommand's ``--help`` epilog runs (issue 11, items 1, 2, 9).

The examples are extracted, not copied: the ``topometrics ...`` lines of the README's
``bash`` and ``text`` blocks (backslash continuations joined, the ``cat > mynets.py`` here-document
block run as one script), the ``example`` column of its command table, and the
``examples:`` lines of every subcommand's epilog.  They run in document order in one
folder (so ``r20.pt`` written by the ``prune`` example is there for ``encode``,
``metrics`` and ``train``), through ``python -m topometrics`` of this checkout.

Scaling (the commands as written are the real configurations; these substitutions only
make them fit a test run, and :data:`SCALE` is the whole list):

* ``rank``: ``--input-shape 3,8,8 --repeats 2 -j 1 -q`` appended (tiny inputs, 2 CV
  repeats instead of 20); without ``--methods``, ``--methods uniform,er,erk,snip``;
  without ``--sparsity``, ``--sparsity 0.98`` (4 methods at one sparsity instead of 7 at
  three).
* ``grid``: methods ``dense snip uniform er erk`` (no grasp, synflow, prospr),
  sparsities ``0.9 0.98``, seed ``0``, ``--epochs 1``; ``analyze``: ``--repeats 2
  --loto-repeats 1``.
* ``train``: ``--epochs 1`` (and ``--input-shape 3,8,8`` when it prunes ``--arch`` itself);
  ``dag train``: ``--epochs 1 --seed 0`` (one seed instead of five).
* ``robustness``: ``--repeats 1 -j 1 --fractions 0,0.5 --perturbations random_removal,noise``
  (two perturbations at two fractions instead of five at ten, one repeat);
* ``reproduce``: ``--repeats 2 --loto-repeats 0``; ``../shared/reference`` is the
  checkout's shared reference folder (skipped when absent).
* ``~/data`` (the epilog's CIFAR root) is a small fake CIFAR-10 in the python-pickle
  layout (200 random images per batch); ``runs/*.pt`` (the epilog's checkpoints) are
  three checkpoints pruned with ``--dataset cifar10`` by ``uniform``, ``er``, ``erk``.
* ``export PYTHONPATH=$PWD`` keeps this checkout on the path (``$PWD:$PYTHONPATH``); the
  examples' folder is on ``PYTHONPATH`` for every command (the epilog's
  ``--model mynets:small_cnn`` is the README's ``mynets.py``, written there first).

Not run, with the reason: ``pip install`` and ``python -m pytest`` (the installation
and this very suite), ``benchmarks/compare_official.py`` (needs the authors' code
checked out elsewhere) and ``benchmarks/gpu_check.py`` (needs a CUDA GPU; the test
suite runs it where one is present).

A re-run of a finished ``rank`` (item 1) is also checked here: it rewrites identical
files and prints the same result.
"""

from __future__ import annotations

import os
import pickle
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHARED_REFERENCE = REPO.parent / "shared" / "reference"


# ------------------------------------------------------------------------------ extraction
def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def readme_examples() -> list[str]:
    """The README's command examples in document order (each a bash snippet)."""
    text = README.read_text(encoding="utf-8")
    found: list[tuple[int, str]] = []
    for m in re.finditer(r"```(?:bash|text)\n(.*?)```", text, flags=re.S):
        block = m.group(1)
        if "<<" in block:  # a here-document: one script
            found.append((m.start(), block))
            continue
        for line in block.replace("\\\n", " ").splitlines():
            line = " ".join(line.split())
            if line.startswith("topometrics ") or (line.startswith("pip ") and "&& topometrics " in line):
                found.append((m.start(), line[line.index("topometrics "):]))
    for m in re.finditer(r"^\|[^|\n]*\|[^|\n]*\| `(topometrics [^`]+)` \|$", text, flags=re.M):
        found.append((m.start(), m.group(1)))
    return [cmd for _, cmd in sorted(found, key=lambda x: x[0])]


def epilog_examples() -> list[str]:
    """The ``examples:`` lines of every subcommand's ``--help`` epilog."""
    from topometrics.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    out = []
    for name, sub in sorted(action.choices.items()):
        for line in (sub.epilog or "").splitlines():
            line = line.strip()
            if line.startswith("topometrics "):
                out.append(line)
    return out


# --------------------------------------------------------------------------------- scaling
def SCALE(cmd: str) -> str:  # noqa: N802 - the documented substitution table
    """The test-size version of one example (module docstring)."""
    cmd = cmd.replace("export PYTHONPATH=$PWD\n", "export PYTHONPATH=$PWD:$PYTHONPATH\n")
    cmd = cmd.replace("../shared/reference", str(SHARED_REFERENCE))
    cmd = cmd.replace("~/data", "fake-data")
    lines = []
    for line in cmd.splitlines():
        words = line.split()
        if words[:2] == ["topometrics", "rank"]:
            line += " --input-shape 3,8,8 --repeats 2 -j 1 -q"
            if "--methods" not in words and "--checkpoints" not in words:
                line += " --methods uniform,er,erk,snip"
            if "--sparsity" not in words and "--checkpoints" not in words:
                line += " --sparsity 0.98"
        elif words[:2] == ["topometrics", "grid"]:
            line = re.sub(r"--methods [a-z_ ]+?(?= --)", "--methods dense snip uniform er erk", line)
            line = re.sub(r"--sparsities [0-9. ]+?(?= --)", "--sparsities 0.9 0.98", line)
            line = re.sub(r"--seeds [0-9 ]+?(?= --)", "--seeds 0", line)
            line = re.sub(r"--epochs \d+", "--epochs 1", line)
        elif words[:2] == ["topometrics", "train"]:
            line = re.sub(r"--epochs \d+", "--epochs 1", line)
            if "--arch" in words and "--input-shape" not in words:
                line += " --input-shape 3,8,8"
        elif words[:3] == ["topometrics", "dag", "train"]:
            line = re.sub(r"--epochs \d+", "--epochs 1", line)
            line = re.sub(r"--seed \S+", "--seed 0", line)
        elif words[:2] == ["topometrics", "robustness"]:
            line = re.sub(r"--repeats \d+", "--repeats 1", line)
            line = re.sub(r"-j \d+", "-j 1", line)
            line += " --fractions 0,0.5 --perturbations random_removal,noise" + ("" if "--repeats" in words else " --repeats 1")
        elif words[:2] == ["topometrics", "analyze"]:
            line += " --repeats 2 --loto-repeats 1"
        elif words[:2] == ["topometrics", "reproduce"]:
            line += " --repeats 2 --loto-repeats 0"
        lines.append(line)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------- running
def _run(script: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(cwd), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    prelude = f'set -e\ntopometrics() {{ {shlex.quote(sys.executable)} -m topometrics "$@"; }}\n'
    return subprocess.run(["bash", "-c", prelude + script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=1800)


def _fake_cifar(root: Path) -> None:
    """A CIFAR-10 python-pickle folder with 200 random images per batch (the loader's layout)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (200, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, 200).tolist()}
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh)


def _setup(work: Path) -> None:
    _fake_cifar(work / "fake-data")
    (work / "runs").mkdir()
    for method in ("uniform", "er", "erk"):
        done = _run(f"topometrics prune --arch resnet20 --method {method} --sparsity 0.98 --dataset cifar10 "
                    f"--input-shape 3,8,8 -o runs/{method}.pt\n", work)
        assert done.returncode == 0, done.stderr


def _skip_reason(cmd: str) -> str | None:
    if "../shared/reference" in cmd and not SHARED_REFERENCE.is_dir():
        return f"the published data are not at {SHARED_REFERENCE}"
    return None


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("examples")
    _setup(work)
    return work


def _unique(pairs):
    """Examples in order, each scaled command once (the epilog repeats two README commands)."""
    seen, out = set(), []
    for source, cmd in pairs:
        if SCALE(cmd) not in seen:
            seen.add(SCALE(cmd))
            out.append((source, cmd))
    return out


EXAMPLES = _unique([("README", c) for c in readme_examples()] + [("epilog", c) for c in epilog_examples()])


def _subcommands() -> set[str]:
    from topometrics.cli import build_parser

    action = next(a for a in build_parser()._actions if a.dest == "command")
    return set(action.choices)


def test_examples_were_found():
    readme = [c for s, c in EXAMPLES if s == "README"]
    assert any(c.startswith("topometrics grid") for c in readme) and any("mynets.py" in c for c in readme)
    assert sum(c.startswith("topometrics ") for c in readme) >= 9
    assert len(epilog_examples()) >= 5, "the rank epilog lists examples"
    for cmd in readme:  # every README example names an existing subcommand
        for line in cmd.splitlines():
            if line.startswith("topometrics "):
                assert line.split()[1] in _subcommands()


@pytest.mark.parametrize("source,cmd", EXAMPLES, ids=[f"{s}-{i}" for i, (s, _) in enumerate(EXAMPLES)])
def test_example_runs(work, source, cmd):
    reason = _skip_reason(cmd)
    if reason:
        pytest.skip(reason)
    done = _run(SCALE(cmd), work)
    assert done.returncode == 0, f"{cmd}\n--- scaled:\n{SCALE(cmd)}\n--- stderr:\n{done.stderr[-4000:]}"
    assert "Traceback" not in done.stderr


def test_rank_rerun_is_a_stable_no_op(work):
    """Item 1: re-running a finished rank leaves its folder as it was and prints the same result (4 runs)."""
    cmd = SCALE("topometrics rank --arch resnet32 --sparsity 0.9 --methods snip,synflow,erk")  # the README's example
    folder = work / "topometrics-out" / "rank-resnet32-cifar10"
    outputs, tables = [], []
    for _ in range(2 if folder.is_dir() else 3):  # the README example's run, when it ran first, is the first
        done = _run(cmd, work)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append([l for l in done.stdout.splitlines() if not l.startswith("Finished in")])
        tables.append({name: (folder / name).read_text() for name in ("networks.csv", "rankings.csv", "rbo.csv")})
    assert all(o == outputs[0] for o in outputs) and all(t == tables[0] for t in tables)
    header = tables[0]["networks.csv"].splitlines()[0].split(",")
    assert "published_accuracy" in header and not any(c.endswith(("_x", "_y")) for c in header)
    text = "\n".join(outputs[0])
    assert "Reference networks pooled" in text and "uniform" in text  # 3 methods x 2 data sets < 7: pooled
    assert "(n = 1)" in text and "+- 0.000" not in text  # one sparsity: no spread to show (item 11)


def test_rank_checkpoints_without_a_data_set(work):
    """Item 9: checkpoints of the README's prune example (no --dataset) rank with --dataset, and say so without."""
    for method in ("synflow", "erk", "uniform"):
        done = _run(f"topometrics prune --arch resnet20 --method {method} --sparsity 0.98 --input-shape 3,8,8 "
                    f"-o nods/{method}.pt\n", work)
        assert done.returncode == 0, done.stderr
    done = _run("topometrics rank --checkpoints nods/*.pt --out nods-rank -q\n", work)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "record no data set" in done.stderr and "--dataset" in done.stderr
    done = _run(SCALE("topometrics rank --checkpoints nods/*.pt --dataset cifar10 --out nods-rank"), work)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cifar10, sparsity 0.98" in done.stdout


def test_rank_checkpoints_of_a_digits_grid(work):
    """Item 9: the digits grid's checkpoints (dense baselines included) rank against their measured accuracies."""
    done = _run("topometrics grid --archs resnet20 --methods dense uniform er erk --sparsities 0.98 --datasets digits "
                "--input-shape 1,8,8 --seeds 0 --train --epochs 1 --eval-every 0 --out dgrid\n", work)
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoints = sorted(str(p.relative_to(work)) for p in (work / "dgrid").rglob("*.pt"))
    assert len(checkpoints) == 4
    done = _run(SCALE("topometrics rank --checkpoints " + " ".join(checkpoints) + " --out dgrid-rank"), work)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "digits, sparsity 0.98" in done.stdout and "measured" in done.stdout

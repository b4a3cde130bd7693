"""Package boundaries: pruners stands alone; the CLI stays fast to import."""

from __future__ import annotations

import subprocess
import sys


def test_pruners_imports_no_graph_package():
    code = (
        "import sys, pruners, pruners.grid, pruners.pipeline, pruners.data, pruners.training\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('encoders', 'topometrics', 'analysis'))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_prune_train_grid_subcommands_register_without_torch():
    code = (
        "import argparse, sys\nfrom topometrics.cli import prune, train, grid\n"
        "sub = argparse.ArgumentParser().add_subparsers()\n"
        "[m.register(sub) for m in (prune, train, grid)]\n"
        "print('torch' in sys.modules, 'pruners' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"

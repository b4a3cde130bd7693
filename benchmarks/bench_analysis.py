"""Benchmark of the analysis: per-fold regressor cost and the full paper reproduction.

The full reproduction is ``topometrics reproduce`` on the published data: 3
encodings x 9 groups x 8 regressors x 500 fits (100 repeats of 5-fold CV) for
Table 3 and the importances, the rankings of Tables 4/11/12 (in-sample), the
leave-one-triplet-out importances (120 held-out groups x ``--loto-repeats``
repeats), the Ramanujan analysis and every figure.

Usage::

    python benchmarks/bench_analysis.py                      # defaults: 100 repeats, LOTO 20, 2 jobs
    python benchmarks/bench_analysis.py --runs 3 --json out.json
    python benchmarks/bench_analysis.py --repeats 10 --loto-repeats 2   # quick look

Prints the median of ``--runs`` runs and the peak resident memory of this process
and of its worker processes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "reference" / "mge-snn" / "graph_data"


def peak_rss_mb() -> tuple[float, float]:
    """Peak RSS (MiB) of this process and of its largest finished child (Linux: KiB units)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


def bench_fold(data, runs: int) -> dict:
    """Median time of one outer fold on the unrolled s=0.9 group, per regressor and for all 8.

    Each regressor as the analysis fits it (``fit_predict_all``: min-max scaling, then
    scikit-learn's estimator or the fast one) and, for comparison, its scikit-learn
    reference pipeline (``reference_pipeline``; the slow ones are timed on fewer
    repetitions).  Both inside the configuration the CV loop uses
    (``assume_finite``, ``skip_parameter_validation``).
    """
    import warnings

    import sklearn
    from sklearn.exceptions import ConvergenceWarning

    from analysis.estimators import REGRESSORS, fit_predict_all, reference_pipeline
    from analysis.names import UNROLLED_FEATURES

    u = data.encodings["unrolled"]
    g = u[u["sparsity"] == 0.9]
    X = g[list(UNROLLED_FEATURES)].to_numpy(float)
    y = g["accuracy_drop"].to_numpy(float)
    n_train = int(0.8 * len(y))
    Xtr, ytr, Xte = X[:n_train], y[:n_train], X[n_train:]

    def median_ms(fn, reps: int) -> float:
        fn()  # compile / load caches
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            times.append((time.perf_counter() - t) / reps)
        return statistics.median(times) * 1e3

    out = {}
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out["all 8"] = {"ours": median_ms(lambda: fit_predict_all(Xtr, ytr, Xte), 20)}
        for name in REGRESSORS:
            ref = reference_pipeline(name, X.shape[1])
            out[name] = {
                "ours": median_ms(lambda: fit_predict_all(Xtr, ytr, Xte, (name,)), 20),
                "sklearn": median_ms(lambda: ref.fit(Xtr, ytr).predict(Xte), 3 if name in ("pcr", "ard", "lasso", "elasticnet") else 20),
            }
        out["all 8"]["sklearn"] = sum(v["sklearn"] for k, v in out.items() if k != "all 8")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="published graph_data folder (default: ../shared/reference/mge-snn/graph_data)")
    ap.add_argument("--repeats", type=int, default=100, help="CV repeats of the regression (default 100)")
    ap.add_argument("--loto-repeats", type=int, default=20, help="CV repeats of each leave-one-triplet-out estimate (default 20)")
    ap.add_argument("--n-jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--runs", type=int, default=1, help="full reproductions to time (median reported; default 1)")
    ap.add_argument("--fold-runs", type=int, default=5, help="repetitions of the per-fold micro-benchmark (default 5)")
    ap.add_argument("--skip-full", action="store_true", help="only the per-fold micro-benchmark")
    ap.add_argument("--json", help="write the results to this JSON file")
    args = ap.parse_args(argv)

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(REPO))
    from analysis.data import load_published, resolve_graph_data
    from analysis.pipeline import reproduce

    try:
        root = resolve_graph_data(args.data)
    except FileNotFoundError as exc:
        print(f"bench_analysis: {exc}", file=sys.stderr)
        return 2
    t = time.perf_counter()
    data = load_published(root)
    load_s = time.perf_counter() - t
    result = {"cpu_count": os.cpu_count(), "load_seconds": load_s, "fold_ms": bench_fold(data, args.fold_runs)}
    print(f"loading the published data: {load_s:.1f} s")
    print("one outer CV fold (~200 training rows x 16 features), median ms: as fitted here / scikit-learn reference pipeline")
    for k, v in result["fold_ms"].items():
        print(f"  {k:16s} {v['ours']:8.2f} {v['sklearn']:9.2f}   ({v['sklearn'] / v['ours']:5.1f}x)")
    if not args.skip_full:
        times = []
        for i in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                reproduce(root, Path(tmp), n_repeats=args.repeats, loto_repeats=args.loto_repeats, n_jobs=args.n_jobs, progress=False)
                times.append(time.perf_counter() - t)
            print(f"full reproduction run {i + 1}: {times[-1]:.1f} s")
        result.update(
            full_seconds=times,
            full_median_seconds=statistics.median(times),
            repeats=args.repeats,
            loto_repeats=args.loto_repeats,
            n_jobs=args.n_jobs,
            fits_regression=3 * 9 * 8 * args.repeats * 5,
            fits_loto=120 * 8 * args.loto_repeats * 5,
        )
        print(
            f"full reproduction ({result['fits_regression']:,} regression fits + {result['fits_loto']:,} leave-one-triplet-out fits, "
            f"{args.n_jobs} jobs): median {result['full_median_seconds']:.1f} s over {args.runs} run(s)"
        )
    own, kids = peak_rss_mb()
    result.update(peak_rss_mb=own, peak_rss_children_mb=kids, load_average=os.getloadavg())
    print(f"peak RSS: {own:.0f} MiB (this process), {kids:.0f} MiB (largest worker)")
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

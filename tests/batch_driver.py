"""A batch driver run as its own process by tests/test_batch.py.

usage: python batch_driver.py OUT FLAGS GATE_FROM RUN [N]

Runs ``batch_tasks.gated`` over N (default 6) specs on a dask LocalCluster of 2 worker
processes; tasks from GATE_FROM on wait for FLAGS/release; every row records RUN.
"""

import sys

import batch_tasks  # noqa: F401  (importable by the workers through PYTHONPATH)

from topometrics.workflows.batch import make_executor, run_batch


def main() -> None:
    out, flags, gate_from, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 6
    specs = [{"i": i, "seed": i, "flags": flags, "gate_from": gate_from, "run": run} for i in range(n)]
    result = run_batch(batch_tasks.gated, specs, out, key=["i"], progress=False,
                       executor=lambda: make_executor("dask", scheduler="local", n_jobs=2))
    print(f"ran {result.ran} skipped {result.skipped} failed {result.failed}")


if __name__ == "__main__":  # dask's LocalCluster starts its workers by spawning, which re-imports this script
    main()

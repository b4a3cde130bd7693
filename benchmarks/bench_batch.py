"""The batch layer's throughput and memory: ``topometrics metrics`` over N saved graphs with three executors.

N ResNet-20 graphs (3x32x32 inputs, uniform random masks at sparsity 0.9, seeds 0..N-1; about 3.8 million
edges each) are saved once as ``.npz`` (``encode``), then measured by ``topometrics metrics`` (every default
metric, exact) with

* ``-j 1 --n-threads 1`` (this process, one numba thread: one core),
* ``-j 1``   (this process, numba's default threads: the kernels use both cores),
* ``-j 2``   (two local loky worker processes),
* ``--scheduler local -j 2`` (a dask LocalCluster of two worker processes, one thread each),

each in a fresh process into a fresh table (numba's kernels are compiled once beforehand and cached).  A
sampler (psutil, every 0.2 s) records the peak RSS of the driver and of every process below it (workers,
dask nannies).  Reported: wall time (median over ``--repeats``), speed-up over ``-j 1``, the dask executor's
time relative to local ``-j 2``, peak RSS of the driver and of each worker, and the machine's load average
(the numbers depend on it: take them on a quiet machine).  Issue 12's targets on 2 cores: ``-j 2`` at least
1.7x faster than ``-j 1``; dask within 15 % of local ``-j 2``; driver RSS under 300 MB.

    python benchmarks/bench_batch.py                     # 40 graphs, 1 repeat
    python benchmarks/bench_batch.py --n 10 --repeats 3 --keep bench-graphs
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CONFIGS = {
    "local -j 1, 1 thread": ["-j", "1", "--n-threads", "1"],
    "local -j 1": ["-j", "1"],
    "local -j 2": ["-j", "2"],
    "dask LocalCluster, 2 workers": ["--scheduler", "local", "-j", "2"],
}


def make_graphs(folder: Path, n: int, sparsity: float) -> list[Path]:
    import encoders
    import pruners
    import topometrics
    from pruners.models import get_model

    shape = (3, 32, 32)
    paths = []
    for i in range(n):
        path = folder / f"resnet20-s{sparsity:g}-seed{i}.npz"
        if not path.exists():
            model = get_model("resnet20", 10, shape)
            masks = pruners.prune(model, "uniform", sparsity, random_state=i)
            graph = encoders.encode(model, shape, masks)
            graph.meta["dense_num_edges"] = int(topometrics.dense_num_edges(model, shape))
            graph.save(path)
        paths.append(path)
    return paths


class PeakRSS:
    """Peak RSS of a process and of every process below it, sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.2):
        import psutil

        self.root = psutil.Process(pid)
        self.interval = interval
        self.peaks: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.root] + self.root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    role = "driver" if p.pid == self.root.pid else _role(p)
                except psutil.Error:  # ended between listing and reading
                    continue
                old = self.peaks.get(p.pid, (role, 0))
                self.peaks[p.pid] = (role, max(old[1], rss))
            self._stop.wait(self.interval)

    def stop(self) -> dict[int, tuple[str, int]]:
        self._stop.set()
        self._thread.join()
        return self.peaks


def _role(p) -> str:
    cmd = " ".join(p.cmdline())
    if "loky" in cmd:
        return "loky worker" if "resource_tracker" not in cmd else "loky resource tracker"
    if "multiprocessing" in cmd and "spawn" in cmd:
        return "spawned process (dask worker or nanny)"
    return cmd[:60]


def run_config(paths: list[Path], flags: list[str], out: Path) -> tuple[float, dict]:
    if out.exists():
        out.unlink()
    cmd = [sys.executable, "-m", "topometrics", "metrics", *map(str, paths), "-o", str(out), "-q", *flags]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = PeakRSS(proc.pid)
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    peaks = sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])} ... failed ({proc.returncode}):\n{err[-3000:]}")
    return wall, peaks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=40, help="number of graphs (default 40)")
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--repeats", type=int, default=1, help="runs per executor; the median is reported (default 1)")
    ap.add_argument("--keep", metavar="DIR", help="keep the graphs in DIR (reused when present)")
    ap.add_argument("--configs", default=";".join(CONFIGS), metavar="NAMES",
                    help="semicolon-separated executor configurations (default: all: " + "; ".join(CONFIGS) + ")")
    args = ap.parse_args()
    chosen = [c.strip() for c in args.configs.split(";") if c.strip()]
    unknown = [c for c in chosen if c not in CONFIGS]
    if unknown:
        ap.error(f"unknown configuration(s) {unknown}; choose from {list(CONFIGS)}")

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-batch-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        paths = make_graphs(folder, args.n, args.sparsity)
        print(f"{len(paths)} graphs in {folder} ({time.perf_counter() - t0:.0f} s to make)", flush=True)
        # compile (or load) the numba kernels once, outside the timings
        subprocess.run([sys.executable, "-m", "topometrics", "metrics", str(paths[0]), "-o", str(folder / "warm.csv"), "-q"],
                       check=True)
        results = {}
        for name in chosen:
            flags = CONFIGS[name]
            walls, peaks = [], {}
            for _ in range(args.repeats):
                wall, peaks = run_config(paths, flags, folder / "bench.csv")
                walls.append(wall)
                print(f"  {name}: {wall:.1f} s (load average {os.getloadavg()[0]:.2f})", flush=True)
            results[name] = (statistics.median(walls), peaks)
        nan = float("nan")
        one = results.get("local -j 1, 1 thread", (nan,))[0]
        base = results.get("local -j 1", (nan,))[0]
        j2 = results.get("local -j 2", (nan,))[0]
        print(f"\nload average (1, 5, 15 min) at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
              f"{os.cpu_count()} cores")
        print("speed-up over -j 1 with one numba thread (one core) and over -j 1 with numba's default threads")
        print(f"{'executor':32s} {'wall s':>8s} {'vs 1 thr':>9s} {'vs -j 1':>8s} {'vs -j 2':>8s} {'driver MB':>10s}  "
              "workers' peak RSS MB")
        for name, (wall, peaks) in results.items():
            driver = max((rss for role, rss in peaks.values() if role == "driver"), default=0) / 2**20
            workers = sorted((rss / 2**20 for role, rss in peaks.values() if role != "driver" and rss > 50 * 2**20),
                             reverse=True)
            print(f"{name:32s} {wall:8.1f} {one / wall:8.2f}x {base / wall:7.2f}x {wall / j2:7.2f}x {driver:10.0f}  "
                  f"{', '.join(f'{w:.0f}' for w in workers) or '-'}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

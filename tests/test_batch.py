"""The batch layer (topometrics.workflows.batch) with real executors: local processes and a dask LocalCluster.

Faults (issue 12), each on a real ``dask.distributed.LocalCluster`` (processes, 2 workers): a worker
SIGKILLed mid-task, the driver SIGINTed then SIGKILLed and re-run, a task that raises, two drivers on one
output, an unreachable scheduler.  Tasks are tiny (tests/batch_tasks.py); processes synchronise through
files polled with generous deadlines.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cloudpickle
import pandas as pd
import pytest

import batch_tasks
from topocore.errors import InputError, OutputLockedError
from topometrics.workflows.batch import DaskExecutor, LocalExecutor, make_executor, parse_cluster_options, run_batch

import distributed  # the cluster extra, installed with .[dev]: a missing one fails here, never skips

TESTS = Path(__file__).resolve().parent
TIMING = ["pid"]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH", "")) if p)
    return env


@pytest.fixture(scope="module")
def cluster():
    """One LocalCluster (2 worker processes, 1 thread each) whose workers can import tests/batch_tasks.py."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = _env()["PYTHONPATH"]
    try:
        local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    client = distributed.Client(local, set_as_default=False)
    yield client
    client.close()
    local.close()


def _specs(n, **extra):
    return [{"i": i, "seed": 100 + i, **extra} for i in range(n)]


def _text(path, drop=TIMING):
    return pd.read_csv(path, float_precision="round_trip").drop(columns=drop, errors="ignore").to_csv(index=False)


def test_same_rows_whatever_the_executor(tmp_path, cluster, monkeypatch):
    # loky workers (possibly started by an earlier test) get the test tasks by value
    cloudpickle.register_pickle_by_value(batch_tasks)
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    specs = _specs(7)
    paths = []
    try:
        for name, executor in (("j1", LocalExecutor(1)), ("j2", LocalExecutor(2)), ("dask", DaskExecutor(cluster))):
            out = tmp_path / f"{name}.csv"
            result = run_batch(batch_tasks.value, specs, out, key=["i"], executor=executor, progress=False)
            assert result.ran == 7 and result.failed == 0
            paths.append(out)
    finally:
        cloudpickle.unregister_pickle_by_value(batch_tasks)
    first = _text(paths[0])
    assert pd.read_csv(paths[0])["i"].tolist() == list(range(7))  # spec order, whatever finished first
    assert all(_text(p) == first for p in paths[1:])
    assert len(set(pd.read_csv(paths[2])["pid"])) >= 1


def test_resume_skips_finished_rows_and_is_identical_to_a_fresh_run(tmp_path):
    fresh, resumed = tmp_path / "fresh.csv", tmp_path / "resumed.csv"
    run_batch(batch_tasks.value, _specs(6), fresh, key=["i"], progress=False)
    first = run_batch(batch_tasks.value, _specs(6)[:3], resumed, key=["i"], progress=False)
    second = run_batch(batch_tasks.value, _specs(6), resumed, key=["i"], progress=False)
    assert (first.ran, second.ran, second.skipped) == (3, 3, 3)
    assert fresh.read_text() == resumed.read_text()  # bit for bit: floats re-read with round_trip
    again = run_batch(batch_tasks.value, _specs(6), resumed, key=["i"], progress=False)
    assert again.ran == 0 and again.skipped == 6 and fresh.read_text() == resumed.read_text()


def test_grouped_rows_resume_retry_and_match_any_executor(tmp_path, cluster, monkeypatch):
    """``many=True``: a task returns a group of rows (a robustness curve); a failed group is one error row,
    a rerun replaces it with the group, a partial group on disk is run again, and executors agree."""
    flags = tmp_path / "flags"
    flags.mkdir()
    specs = _specs(5, flags=str(flags), fail=3)
    out = tmp_path / "g.csv"
    first = run_batch(batch_tasks.curve, specs, out, key=["i"], many=True, progress=False)
    assert (first.ran, first.failed) == (5, 1)
    table = pd.read_csv(out, keep_default_na=False)
    assert table["i"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 4, 4, 4]
    assert table.loc[table["i"] == 3, "error"].tolist() == ["ValueError: curve 3 fails until healed"]
    (flags / "heal").touch()
    # a group cut short on disk (as an older writer could leave it) counts as unfinished with this is_done
    cut = pd.read_csv(out, float_precision="round_trip")
    cut.drop(index=cut.index[(cut["i"] == 1) & (cut["step"] == 2)]).to_csv(out, index=False)
    second = run_batch(batch_tasks.curve, specs, out, key=["i"], many=True, progress=False,
                       is_done=lambda rows: len(rows) == 3 and all(not r["error"] for r in rows))
    assert (second.ran, second.skipped, second.failed) == (2, 3, 0)
    cloudpickle.register_pickle_by_value(batch_tasks)
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    try:
        fresh = {}
        for name, executor in (("j2", LocalExecutor(2)), ("dask", DaskExecutor(cluster))):
            fresh[name] = tmp_path / f"{name}.csv"
            run_batch(batch_tasks.curve, specs, fresh[name], key=["i"], many=True, executor=executor, progress=False)
    finally:
        cloudpickle.unregister_pickle_by_value(batch_tasks)
    assert fresh["j2"].read_text() == fresh["dask"].read_text()
    # the retried table holds the same values (its step column read the failed row's empty cell as float)
    retried = pd.read_csv(out, float_precision="round_trip")
    pd.testing.assert_frame_equal(retried, pd.read_csv(fresh["j2"], float_precision="round_trip"), check_dtype=False)
    assert len(retried) == 15


def test_a_raising_task_becomes_a_row_and_the_others_finish(tmp_path, cluster):
    out = tmp_path / "t.csv"
    result = run_batch(batch_tasks.boom, _specs(5), out, key=["i"], executor=DaskExecutor(cluster), progress=False)
    assert result.failed == 1 and result.ran == 5
    f = result.failures[0]
    assert f.spec["i"] == 2 and "ValueError: task 2 always fails" in f.message and not f.user_error
    assert "Traceback" in f.traceback
    table = pd.read_csv(out, keep_default_na=False)
    assert table["i"].tolist() == list(range(5))
    assert table.loc[2, "error"] == "ValueError: task 2 always fails" and table.loc[2, "x"] == ""
    assert (table.drop(index=2)["error"] == "").all()
    # a re-run retries the failed task only (it fails again: still one row for it)
    again = run_batch(batch_tasks.boom, _specs(5), out, key=["i"], executor=DaskExecutor(cluster), progress=False)
    assert again.ran == 1 and again.skipped == 4 and len(pd.read_csv(out)) == 5


def test_worker_killed_mid_task_is_retried_and_every_spec_appears_once(tmp_path, cluster):
    flags = tmp_path / "flags"
    flags.mkdir()
    out = tmp_path / "t.csv"
    specs = _specs(6, flags=str(flags), victim=3, victim_wait=180)
    box: dict = {}

    def drive():
        try:
            box["result"] = run_batch(batch_tasks.gated, specs, out, key=["i"], executor=DaskExecutor(cluster),
                                      progress=False)
        except BaseException as exc:  # reported by the main thread
            box["error"] = exc

    thread = threading.Thread(target=drive)
    thread.start()
    assert batch_tasks.wait_for(flags / "attempt-3", deadline=180), "the victim task never started"
    victim_pid = None
    deadline = time.monotonic() + 30
    while not victim_pid and time.monotonic() < deadline:  # written right after the file is created
        victim_pid = (flags / "attempt-3").read_text().strip()
    os.kill(int(victim_pid), signal.SIGKILL)
    thread.join(timeout=240)
    assert not thread.is_alive(), "the job did not finish after the worker was killed"
    assert "error" not in box, box.get("error")
    result = box["result"]
    assert result.failed == 0
    table = pd.read_csv(out)
    assert sorted(table["i"]) == list(range(6)) and table["i"].is_unique
    victim = table[table["i"] == 3].iloc[0]
    assert victim["attempt"] == 2 and victim["pid"] != int(victim_pid)  # run again, on a live worker
    cluster.wait_for_workers(2, timeout=120)  # the nanny restarted the killed worker


def _driver(out, flags, gate_from, run):
    return subprocess.Popen(
        [sys.executable, str(TESTS / "batch_driver.py"), str(out), str(flags), str(gate_from), str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True,
    )


def _rows(out) -> int:
    try:
        return len(pd.read_csv(out))
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0


def test_driver_killed_then_rerun_keeps_finished_rows_once(tmp_path):
    flags = tmp_path / "flags"
    flags.mkdir()
    out = tmp_path / "t.csv"
    first = _driver(out, flags, 2, 1)
    try:
        deadline = time.monotonic() + 240
        while _rows(out) < 2:
            assert first.poll() is None, first.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the first two tasks never finished"
            time.sleep(0.05)
        assert batch_tasks.wait_for(flags / "started-2", deadline=120)
        first.send_signal(signal.SIGINT)
        try:
            first.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    finally:
        try:
            os.killpg(first.pid, signal.SIGKILL)  # the driver and its cluster's processes
        except ProcessLookupError:
            pass
        first.communicate()
    table = pd.read_csv(out)
    assert table["i"].tolist() == [0, 1] and (table["run"] == 1).all()  # finished rows, whole, none duplicated
    (flags / "release").touch()
    second = _driver(out, flags, 2, 2)
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr[-3000:]
    assert "ran 4 skipped 2 failed 0" in stdout
    table = pd.read_csv(out)
    assert table["i"].tolist() == list(range(6))
    assert table["run"].tolist() == [1, 1, 2, 2, 2, 2]
    assert not list(tmp_path.glob(".t.csv.*.tmp"))


def test_second_driver_on_the_same_output_fails_at_once(tmp_path, capsys):
    flags = tmp_path / "flags"
    flags.mkdir()
    out = tmp_path / "t.csv"
    first = _driver(out, flags, 0, 1)
    try:
        assert batch_tasks.wait_for(flags / "started-0", deadline=240), first.communicate()[1][-3000:]
        t0 = time.monotonic()
        with pytest.raises(OutputLockedError, match=re.escape(f"{out}.lock")):
            run_batch(batch_tasks.value, _specs(3), out, key=["i"], progress=False,
                      executor=lambda: pytest.fail("the second driver must not start an executor"))
        assert time.monotonic() - t0 < 30
        from topometrics.cli import main

        assert main(["metrics", str(tmp_path / "any.pt"), "-o", str(out), "-q", "--scheduler", "local"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "lock file" in err[0] and f"{out}.lock" in err[0]
    finally:
        (flags / "release").touch()
        _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-3000:]
    assert sorted(pd.read_csv(out)["i"]) == list(range(6))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_a_one_line_error_within_30s(tmp_path):
    ck = tmp_path / "missing.pt"
    base = [sys.executable, "-m", "topometrics", "metrics", str(ck), "-q"]
    # the same command run locally (its one input fails at once): interpreter start and imports, which a
    # loaded machine can stretch well beyond the connection timeout
    t0 = time.monotonic()
    local = subprocess.run([*base, "-o", str(tmp_path / "local.csv")], capture_output=True, text=True, timeout=300,
                           env=_env())
    startup = time.monotonic() - t0
    assert local.returncode == 1, local.stderr[-3000:]
    t0 = time.monotonic()
    proc = subprocess.run([*base, "-o", str(tmp_path / "r.csv"), "--scheduler", f"tcp://127.0.0.1:{_free_port()}"],
                          capture_output=True, text=True, timeout=300, env=_env())
    waited = time.monotonic() - t0 - startup
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the dask scheduler" in lines[0] and "Traceback" not in proc.stderr
    assert "within 10 s" in lines[0]
    assert waited < 30, f"{waited:.1f} s beyond the {startup:.1f} s the command needs to start"
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "r.csv.lock").exists()


def test_executor_options():
    assert parse_cluster_options("cores=4 memory=16GB walltime=04:00:00 queue=gpu job_extra_directives='[\"--gres=gpu:1\"]'") == {
        "cores": 4, "memory": "16GB", "walltime": "04:00:00", "queue": "gpu", "job_extra_directives": ["--gres=gpu:1"]}
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_cluster_options("cores")
    with pytest.raises(InputError, match="slurm"):
        make_executor("dask", cluster="pbs")
    assert isinstance(make_executor(), LocalExecutor)


def test_slurm_options_reach_the_job_script():
    """No SLURM here: the cluster is built without submitting a job; its batch script carries the options."""
    from topometrics.workflows.batch import slurm_cluster

    cluster = slurm_cluster(
        "cores=2 memory=6GB walltime=01:30:00 queue=gpu job_extra_directives='[\"--gres=gpu:1\"]' "
        "worker_extra_args='[\"--resources\", \"GPU=1\"]'", jobs=0)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p gpu" in script and "#SBATCH -t 01:30:00" in script and "#SBATCH --gres=gpu:1" in script
    assert "--resources GPU=1" in script and "--nthreads 2" in script
    assert "export DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL=1000ms" in script
    assert "export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False" in script
    with pytest.raises(InputError, match="cluster-options"):
        slurm_cluster("no_such_option=1", jobs=0)


def test_local_cluster_workers_run_with_the_quiet_settings(monkeypatch):
    """The LocalCluster's workers: no 20 ms tick, no profiler, glibc's adaptive mmap threshold left on.

    ``MALLOC_TRIM_THRESHOLD_`` is set here as an earlier dask Nanny in this process leaves it; the workers must
    not inherit it, and this process's environment must be as it was afterwards.
    """
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    ex = make_executor("dask", n_jobs=1, scheduler="local")
    try:
        [(index, outcome)] = list(ex.map(batch_tasks.worker_settings, [(0, {})]))
    finally:
        ex.close()
    assert outcome["row"] == {"tick": "1000ms", "profile": False, "trim": None}
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"

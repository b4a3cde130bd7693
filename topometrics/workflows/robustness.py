"""Robustness sweeps: perturb a trained sparse network step by step and evaluate it (and its topology).

:func:`sweep` is the robustness study's experiment on one network (Sulyok, Palla, Radicchi
and Fortunato, "Robustness in sparse artificial neural networks trained with adaptive
topology"): for every perturbation of :mod:`pruners.perturb` and every repeat, one run of
the fractions in increasing order on one model copy (removals are iterative and applied in
place; shuffle and noise restart from the unperturbed weights at every fraction), the test
accuracy after every step (:func:`pruners.evaluate`) and, with ``metrics``, the
topometrics of the perturbed network's MGE (:func:`~topometrics.workflows.measure.measure_network`,
normalised like the rest of the toolkit).  :func:`run_robustness` is the resumable job of
many checkpoints behind ``topometrics robustness``.

Placement: the sweep joins :mod:`pruners` (models, evaluation, perturbations) with the
encoders and metrics, so it belongs to the application layer; the summary numbers (AUC,
f50) and the figure are pure table functions in :mod:`analysis.robustness`.

Conventions (stated in every report this module writes):

* **BatchNorm statistics are not recomputed** after a perturbation: the network is
  evaluated in eval mode with the running statistics it was trained with.
* **Exact zeros count as pruned**: a link is active when its mask keeps it *and* its
  weight is non-zero, so a checkpoint saved without masks (all-``True`` masks over a
  magnitude-pruned network) is swept as the sparse network its zeros describe; the
  number of such links is the ``zeros_as_pruned`` column.
* **A dense readout is untouched** (unless ``include_readout=True``); a pruned readout is
  perturbed like the other prunable layers (``readout_included`` column).
* **Randomness**: every (perturbation, repeat) curve draws from its own
  ``torch.Generator`` seeded with ``SeedSequence([random_state, k, repeat])`` (``k``: the
  perturbation's position in :data:`pruners.perturb.PERTURBATIONS`), so the table does not
  depend on ``n_jobs``, on the order of the perturbations or on which others are swept.
  The weight-order removals are deterministic (ties broken by position): their repeats
  are identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from topocore.errors import DataMismatchError, InputError

__all__ = ["sweep", "run_robustness", "RobustnessResult", "ROW_COLUMNS", "group_of"]

#: The columns of every sweep row, in this order (metrics follow, then key columns of a job go first).
ROW_COLUMNS = (
    "perturbation", "scope", "fraction", "repeat", "accuracy", "active_links", "perturbed_links", "links_before",
    "base_accuracy", "chance", "zeros_as_pruned", "readout_included", "curve_seed",
)


# ------------------------------------------------------------------------------- inputs
def _eval_tensors(data: Any):
    """``(inputs, labels)`` tensors of an evaluation data set (un-augmented)."""
    import torch

    if hasattr(data, "tensors") and callable(data.tensors) and hasattr(data, "images"):  # pruners ImageDataset
        x, y = data.tensors()
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = (torch.as_tensor(v) for v in data)
    elif isinstance(data, torch.utils.data.DataLoader) or isinstance(data, torch.utils.data.Dataset):
        loader = data if isinstance(data, torch.utils.data.DataLoader) else torch.utils.data.DataLoader(data, batch_size=1024)
        xs, ys = zip(*[(bx, by) for bx, by in loader]) if len(loader) else ((), ())
        if not xs:
            raise InputError("the evaluation data set is empty; pass a non-empty test set")
        x, y = torch.cat(xs), torch.cat(ys)
    else:
        raise InputError(
            f"data must be a Dataset, a DataLoader or an (inputs, labels) pair, got {type(data).__name__}; pass the "
            "test split, e.g. pruners.data.get_dataset('digits', split='test', input_shape=(1, 8, 8))"
        )
    if x.ndim < 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise InputError(
            f"data must hold (N, ...) inputs and (N,) labels with N > 0, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.is_floating_point() is False:
        x = x.float()
    return x.contiguous(), y.long().contiguous()


def _check_data(model, x, y, input_shape, source: str) -> int:
    """Refuse data whose sample shape or labels do not fit the model; return the number of classes."""
    import torch

    shape = tuple(int(s) for s in x.shape[1:])
    if input_shape is not None and tuple(input_shape) != shape:
        raise DataMismatchError(
            f"the data's samples have shape {shape} but {source} takes {tuple(input_shape)}; evaluate it on the data "
            "set it was trained on (for digits, the checkpoint's input shape is used when the CLI loads the data)"
        )
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[:2])
    except RuntimeError as exc:
        raise DataMismatchError(
            f"{source} cannot evaluate samples of shape {shape} ({str(exc).splitlines()[0][:160]}); pass data of the "
            "input shape it was trained on"
        ) from None
    finally:
        model.train(was)
    if out.ndim != 2:
        raise DataMismatchError(f"{source} returns outputs of shape {tuple(out.shape)}, not (batch, classes); sweep a classifier")
    classes = int(out.shape[1])
    if int(y.min()) < 0 or int(y.max()) >= classes:
        raise DataMismatchError(
            f"the data's labels span [{int(y.min())}, {int(y.max())}] but {source} has {classes} outputs; pass the "
            "data set it was trained on"
        )
    return classes


def _loader(x, y, batch_size: int):
    import torch
    from torch.utils.data import BatchSampler, DataLoader, SequentialSampler, TensorDataset

    sampler = BatchSampler(SequentialSampler(range(len(y))), int(batch_size), drop_last=False)
    return DataLoader(TensorDataset(torch.as_tensor(x), torch.as_tensor(y)), sampler=sampler, batch_size=None)


def _curve_seed(random_state: int, perturbation: str, repeat: int) -> int:
    from pruners.perturb import PERTURBATIONS

    k = list(PERTURBATIONS).index(perturbation)
    return int(np.random.SeedSequence([int(random_state), k, int(repeat)]).generate_state(1, dtype=np.uint32)[0])


# ------------------------------------------------------------------------------ the runner
class _Sweeper:
    """One prepared network: its model copy (plain weights), masks, data and options."""

    def __init__(self, model, masks, x, y, *, input_shape, fractions, scope, include_readout, metrics, batch_size,
                 device, random_state, zeros_as_pruned, chance, base_accuracy):
        self.model, self.masks, self.x, self.y = model, masks, x, y
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.fractions, self.scope, self.include_readout = list(fractions), scope, include_readout
        self.metrics, self.batch_size, self.device = metrics, int(batch_size), device
        self.random_state, self.zeros_as_pruned = int(random_state), int(zeros_as_pruned)
        self.chance, self.base_accuracy = float(chance), float(base_accuracy)
        self._target = None
        self._cache: dict[bytes, dict] = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_target"], state["_cache"] = None, {}
        return state

    def _prepare(self):
        """The model's perturbable tensors and snapshots to restore after a curve (once per process)."""
        if self._target is None:
            from pruners.perturb import perturbable

            self.model.to(self.device).eval()
            self._target = perturbable(self.model, self.masks, include_readout=self.include_readout)
            self._weights0 = [w.clone() for w in self._target.weights]
            self._masks0 = [m.clone() for m in self._target.masks]
            self._loader = _loader(self.x, self.y, self.batch_size)
        return self._target

    def _restore(self):
        import torch

        with torch.no_grad():
            for w, w0, m, m0 in zip(self._target.weights, self._weights0, self._target.masks, self._masks0):
                w.copy_(w0)
                m.copy_(m0)

    def _measure(self, target, generator_seed: int) -> dict:
        from .inputs import Network
        from .measure import measure_network

        masks = target.mask_dict()
        digest = hashlib.blake2b(digest_size=16)
        for w, m in zip(target.weights, target.masks):
            digest.update(w.detach().cpu().numpy().tobytes())
            digest.update(m.cpu().numpy().tobytes())
        key = digest.digest()
        if key not in self._cache:
            net = Network(self.model, masks, None, self.input_shape, {})
            self._cache[key] = measure_network(net, metrics=self.metrics, normalized=True, n_threads=1,
                                               random_state=self.random_state)
        return dict(self._cache[key])

    def curve(self, perturbation: str, repeat: int) -> list[dict]:
        """The rows of one (perturbation, repeat) run over the fractions; the model is restored afterwards."""
        import torch

        from pruners import evaluate
        from pruners.perturb import perturb

        target = self._prepare()
        seed = _curve_seed(self.random_state, perturbation, repeat)
        generator = torch.Generator().manual_seed(seed)
        before = target.num_active
        rows = []
        try:
            steps = perturb(target, perturbation, self.fractions, scope=self.scope, generator=generator)
            for fraction, count in zip(self.fractions, steps):
                row = {
                    "perturbation": perturbation, "scope": self.scope, "fraction": float(fraction), "repeat": int(repeat),
                    "accuracy": float(evaluate(self.model, self._loader, device=self.device)),
                    "active_links": target.num_active, "perturbed_links": int(count), "links_before": before,
                    "base_accuracy": self.base_accuracy, "chance": self.chance, "zeros_as_pruned": self.zeros_as_pruned,
                    "readout_included": target.readout_included, "curve_seed": seed,
                }
                if self.metrics is not None:
                    row.update(self._measure(target, seed))
                rows.append(row)
        finally:
            self._restore()
        return rows


def _sweep_task(spec: Mapping[str, Any]) -> dict:
    """Batch task of :func:`sweep`: one curve of the sweeper the spec carries."""
    return {"rows": spec["sweeper"].curve(spec["perturbation"], spec["repeat"])}


#: Prepared networks of this process, keyed by checkpoint file and settings (a worker loads each once).
_SWEEPERS: "OrderedDict[tuple, _Sweeper]" = OrderedDict()
_SWEEPERS_KEPT = 8
_DATA: dict[tuple, Any] = {}


def _sweeper_key(spec: Mapping[str, Any]) -> tuple:
    path = os.path.realpath(os.fspath(spec["checkpoint"]))
    stat = os.stat(path)
    return path, stat.st_mtime_ns, stat.st_size, json.dumps(spec["settings"], sort_keys=True, default=str)


def curve_task(spec: Mapping[str, Any]) -> dict:
    """Batch task of :func:`run_robustness`: one checkpoint's (perturbation, repeat) curve.

    A pure function of its spec (checkpoint path, perturbation, repeat, the job's settings,
    the identifying columns and the unperturbed accuracy measured by the driver): the
    checkpoint and the test split are loaded once per process and kept for the next curves.
    Returns ``{"rows": [...]}``, a row per fraction.
    """
    key = _sweeper_key(spec)
    sweeper = _SWEEPERS.get(key)
    if sweeper is None:
        from pruners.data import RESHAPABLE, get_dataset

        from .inputs import load_network

        cfg = spec["settings"]
        net = load_network(spec["checkpoint"], trusted=cfg["trusted"])
        shape = tuple(net.input_shape) if cfg["dataset"] in RESHAPABLE and net.input_shape is not None else None
        data_key = (cfg["dataset"], cfg["data_root"], shape)
        if data_key not in _DATA:
            _DATA.clear()
            _DATA[data_key] = get_dataset(cfg["dataset"], cfg["data_root"], "test",
                                          **({"input_shape": shape} if shape is not None else {}))
        sweeper, _ = _prepare(net, _DATA[data_key], input_shape=None, fractions=cfg["fractions"], scope=cfg["scope"],
                              include_readout=cfg["include_readout"], metrics=cfg["metrics"],
                              batch_size=cfg["batch_size"], device=cfg["device"], random_state=cfg["random_state"],
                              trusted=cfg["trusted"], base_accuracy=spec["base_accuracy"])
        _keep_sweeper(key, sweeper)
    else:
        _SWEEPERS.move_to_end(key)
    ident = dict(spec["ident"])
    return {"rows": [{**ident, **row} for row in sweeper.curve(spec["perturbation"], spec["repeat"])]}


def _keep_sweeper(key: tuple, sweeper: "_Sweeper") -> None:
    _SWEEPERS[key] = sweeper
    while len(_SWEEPERS) > _SWEEPERS_KEPT:
        _SWEEPERS.popitem(last=False)


def _prepare(item, data, *, input_shape, fractions, scope, include_readout, metrics, batch_size, device, random_state,
             trusted, masks=None, base_accuracy=None) -> tuple[_Sweeper, dict]:
    """Load and check one network and its data; evaluate it unperturbed (unless ``base_accuracy`` is known)."""
    from pruners import copy_model, evaluate
    from pruners.perturb import check_scope, perturbable

    from .inputs import load_network

    check_scope(scope)
    net = load_network(item, input_shape=input_shape, trusted=trusted)
    if net.model is None:
        raise InputError(
            f"{net.source or 'a saved graph'} holds only a graph; a robustness sweep evaluates the network, give its "
            "checkpoint"
        )
    source = net.source or type(net.model).__name__
    x, y = _eval_tensors(data)
    probe = copy_model(net.model).to(device).eval()
    classes = _check_data(probe, x, y, net.input_shape, source)
    chosen = masks if masks is not None else net.masks
    target = perturbable(probe, chosen, include_readout=include_readout)
    if target.num_active == 0:
        raise InputError(f"{source} has no active links in its perturbable layers; nothing to perturb")
    zeros = target.zeros_as_pruned
    base = (float(evaluate(probe, _loader(x, y, batch_size), device=device)) if base_accuracy is None
            else float(base_accuracy))
    sweeper = _Sweeper(probe, target.mask_dict(), x, y, input_shape=net.input_shape or tuple(x.shape[1:]),
                       fractions=fractions, scope=scope, include_readout=include_readout, metrics=metrics,
                       batch_size=batch_size, device=device, random_state=random_state, zeros_as_pruned=zeros,
                       chance=1.0 / classes, base_accuracy=base)
    return sweeper, {"meta": dict(net.meta), "source": net.source, "input_shape": net.input_shape}


def _run_curves(sweeper: _Sweeper, units: Sequence[tuple[str, int]], n_jobs: int | None,
                progress: bool) -> list[dict]:
    """The rows of every ``(perturbation, repeat)`` unit, run by the batch layer's local executor."""
    from tqdm.auto import tqdm

    from .batch import LocalExecutor

    specs = [(i, {"sweeper": sweeper, "perturbation": p, "repeat": r}) for i, (p, r) in enumerate(units)]
    curves: dict[int, list[dict]] = {}
    with tqdm(total=len(units), desc="robustness", unit="curve", disable=not progress or not units) as bar:
        for index, outcome in LocalExecutor(n_jobs).map(_sweep_task, specs):
            if "row" not in outcome:
                exc = outcome.get("exception")
                raise exc if exc is not None else RuntimeError(outcome["error"])
            curves[index] = outcome["row"]["rows"]
            bar.update(1)
    return [row for i in range(len(units)) for row in curves[i]]


def _order_rows(rows: list[dict], perturbations: Sequence[str]):
    import pandas as pd

    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["_p"] = table["perturbation"].map({p: i for i, p in enumerate(perturbations)})
    table = table.sort_values(["_p", "repeat", "fraction"], kind="stable").drop(columns="_p").reset_index(drop=True)
    first = [c for c in ROW_COLUMNS if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]


def _check_common(perturbations, fractions, repeats, metrics, batch_size, n_jobs):
    from pruners.perturb import check_fractions, check_perturbations
    from topocore.parallel import resolve_n_jobs

    perturbations = check_perturbations(perturbations)
    fractions = check_fractions(fractions)
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise InputError(f"repeats must be a positive integer, got {repeats!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    resolve_n_jobs(n_jobs, default=1)
    if metrics is not None:
        from ..registry import resolve_metrics

        metrics = resolve_metrics(metrics)
    return perturbations, fractions, int(repeats), metrics


def sweep(
    model_or_checkpoint: Any,
    data: Any,
    perturbations: str | Sequence[str] | None = None,
    fractions: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    repeats: int = 5,
    *,
    metrics: str | Iterable[str] | None = None,
    input_shape: Sequence[int] | None = None,
    masks: Mapping[str, Any] | None = None,
    scope: str = "global",
    include_readout: bool = False,
    random_state: int | None = 0,
    n_jobs: int | None = 1,
    batch_size: int = 2048,
    device: str = "cpu",
    progress: bool = False,
    trusted: bool | str | Iterable[str] = (),
):
    """Robustness curves of one trained network: a table with one row per (perturbation, fraction, repeat).

    Parameters
    ----------
    model_or_checkpoint : path, pruners Checkpoint, torch.nn.Module, (model, masks) or (model, masks, meta)
        The trained network (read with :func:`~topometrics.workflows.inputs.load_network`); it is
        copied, never changed.  A model without masks has its exact zeros as pruned links.
    data : Dataset, DataLoader or (inputs, labels)
        The evaluation (test) data; held in memory and evaluated in batches of ``batch_size``.
    perturbations : str, list of str or None
        Names from :data:`pruners.perturb.PERTURBATIONS` (``None`` / ``"all"``: the five).
    fractions : sequence of float
        Strictly increasing, in ``[0, 1]``: shares of the links active before the sweep
        (for ``noise``: the noise scale in units of each layer's weight sd).  ``f = 0``
        evaluates the unperturbed network.
    repeats : int
        Runs per perturbation, each with its own seeded generator (module docstring).
    metrics : str or list of str, optional
        Topometrics of the perturbed network's MGE at every row (raw and ``<metric>_norm``
        columns plus the graph size, as :func:`topometrics.workflows.measure.measure_network`);
        identical networks (every ``f = 0`` row, the repeats of a weight order) are measured once.
    input_shape : tuple of int, optional
        Sample shape of a model that records none (checkpoints record theirs).
    masks : dict, optional
        Masks of a plain model (overrides its prune buffers).
    scope : {"global", "layer"}
        Fractions of all layers pooled, or of every layer.
    include_readout : bool
        Also perturb a readout kept dense.
    random_state : int
        Seeds every curve's generator.
    n_jobs : int or None
        Worker processes (joblib's loky) over the (perturbation, repeat) curves; 1: this process.
    batch_size, device : evaluation batch size and device.
    trusted : model specs a checkpoint may name (see :func:`pruners.load_checkpoint`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ROW_COLUMNS` (``accuracy`` a fraction; ``active_links`` after the step,
        ``perturbed_links`` removed / shuffled / noised at this fraction, ``links_before`` the
        active links at the start, ``base_accuracy`` the unperturbed accuracy, ``chance`` =
        1 / classes), then the metric columns.  Summaries: :mod:`analysis.robustness`.

    Raises
    ------
    topocore.errors.InputError
        Fractions outside [0, 1] or not increasing, an unknown perturbation (the message
        lists the known ones), bad counts, a saved graph instead of a model.
    topocore.errors.DataMismatchError
        Data whose sample shape or labels do not fit the model.

    Notes
    -----
    BatchNorm statistics are not recomputed after a perturbation.  Cost: one evaluation of
    the test set per row (plus one MGE measurement per distinct network with ``metrics``).
    """
    from topocore.random import seed_of

    perturbations, fractions, repeats, metrics = _check_common(perturbations, fractions, repeats, metrics, batch_size, n_jobs)
    random_state = seed_of(random_state)
    sweeper, _ = _prepare(model_or_checkpoint, data, input_shape=input_shape, fractions=fractions, scope=scope,
                          include_readout=bool(include_readout), metrics=metrics, batch_size=batch_size, device=device,
                          random_state=random_state, trusted=trusted, masks=masks)
    units = [(p, r) for p in perturbations for r in range(repeats)]
    return _order_rows(_run_curves(sweeper, units, n_jobs, progress), perturbations)


# ------------------------------------------------------------------------- the batch job
def group_of(meta: Mapping[str, Any], source: str | None, group_by: str = "auto") -> str:
    """The checkpoint group of a network: its line in the figure.

    ``"auto"``: the dynamic-sparse-training method (``meta["dst"]["method"]``) when the
    network was trained with one, else the pruning method (``meta["method"]``), else the
    file name; ``"file"``: the file name without extension; any other value: that
    metadata key (refused when a checkpoint lacks it).
    """
    stem = Path(source).stem if source else "network"
    if group_by == "file":
        return stem
    if group_by == "auto":
        dst = meta.get("dst")
        if isinstance(dst, Mapping) and dst.get("method"):
            return str(dst["method"])
        if isinstance(dst, str) and dst:
            try:
                parsed = json.loads(dst)
                if isinstance(parsed, Mapping) and parsed.get("method"):
                    return str(parsed["method"])
            except ValueError:
                return dst
        return str(meta["method"]) if meta.get("method") else stem
    if meta.get(group_by) is None:
        raise InputError(f"{source or 'a network'} has no metadata {group_by!r} to group by; use --group-by auto or file")
    value = meta[group_by]
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


class RobustnessResult:
    """What :func:`run_robustness` wrote: the finished rows, the summary, the file paths and the failed curves."""

    def __init__(self, table, summary, paths: dict[str, Path], computed: int, skipped: int, seconds: float,
                 failures=()):
        self.table, self.summary, self.paths = table, summary, paths
        self.computed, self.skipped, self.seconds = computed, skipped, seconds
        self.failures = list(failures)

    @property
    def failed(self) -> int:
        """Curves that raised (their rows hold the message in ``error``; a rerun runs them again)."""
        return len(self.failures)


#: A curve's identity in the job's table.
_CURVE_KEY = ("checkpoint_key", "perturbation", "repeat")
_IDENT_COLUMNS = ("group", "checkpoint", "checkpoint_key", "seed", "arch", "method", "sparsity", "dataset")


def _arrange(table):
    """Columns: the checkpoint's identity, :data:`ROW_COLUMNS`, the metrics, then ``error``."""
    first = [c for c in (*_IDENT_COLUMNS, *ROW_COLUMNS) if c in table.columns]
    rest = [c for c in table.columns if c not in first and c != "error"]
    return table[first + rest + (["error"] if "error" in table.columns else [])]


def _key(path: str, out: Path) -> str:
    """A checkpoint's identity in a job's table: its resolved path relative to the output folder."""
    return os.path.relpath(os.path.realpath(os.fspath(path)), os.path.realpath(os.fspath(out)))


def run_robustness(
    checkpoints: Sequence[str | os.PathLike],
    *,
    dataset: str,
    out: str | os.PathLike,
    data_root: str | os.PathLike | None = None,
    perturbations: str | Sequence[str] | None = None,
    fractions: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    repeats: int = 5,
    scope: str = "global",
    include_readout: bool = False,
    metrics: str | Iterable[str] | None = None,
    random_state: int = 0,
    n_jobs: int | None = 1,
    batch_size: int = 2048,
    device: str = "cpu",
    group_by: str = "auto",
    trusted: bool | str | Iterable[str] = (),
    progress: bool = True,
    log=None,
    executor: Any = None,
    resources: Mapping[str, float] | None = None,
) -> RobustnessResult:
    """Sweep many checkpoints into ``out/robustness.csv``, ``robustness.png`` and ``report.md`` (resumable).

    Everything is checked before anything is written (arguments, every checkpoint, the
    data and its fit to every model); the output folder is locked
    (:func:`topocore.io.output_lock`) while the job runs.  A *unit* is one checkpoint's
    (perturbation, repeat) curve: after each finished unit the whole table is rewritten
    atomically, so an interrupted job loses at most the unit in progress, and a rerun with
    the same settings skips every finished unit (new checkpoints, perturbations or repeats
    are added).  The settings that change the numbers (fractions, scope, readout,
    random_state, metrics, dataset) are kept in ``robustness.json``; a rerun with other
    settings is refused (use another ``out``).  ``group_by`` names a checkpoint's line in the
    figure (:func:`group_of`).

    The curves are tasks of the batch layer (:func:`topometrics.workflows.batch.run_batch`,
    :func:`curve_task`): this process, ``n_jobs`` local worker processes, or ``executor``
    (e.g. a Dask cluster, see :func:`~topometrics.workflows.batch.make_executor`; a worker
    loads each checkpoint and the test split once; ``resources`` such as ``{"GPU": 1}``
    annotate every task).  A curve that raises becomes a row with its message in ``error``,
    the others go on (``RobustnessResult.failed``), and a rerun runs it again.
    """
    from analysis.robustness import robustness_figure, summarize, summary_markdown
    from pruners.data import RESHAPABLE, get_dataset
    from topocore.io import atomic_write, atomic_write_csv, atomic_write_text, check_writable, output_lock

    from .batch import LocalExecutor, finished_group, run_batch
    from topocore.names import canonical_dataset
    from topocore.random import seed_of

    t0 = time.perf_counter()
    say = log or (lambda text: None)
    perturbations, fractions, repeats, metrics = _check_common(perturbations, fractions, repeats, metrics, batch_size, n_jobs)
    random_state = seed_of(random_state)
    dataset = canonical_dataset(dataset)
    if not checkpoints:
        raise InputError("no checkpoint given; pass one or more checkpoint files")
    out = Path(out)
    if len({_key(c, out) for c in checkpoints}) != len(checkpoints):
        raise InputError("a checkpoint is given twice; pass each once")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; name a folder (it receives robustness.csv, robustness.png, report.md)")
    settings = {"dataset": dataset, "fractions": fractions, "scope": scope, "include_readout": bool(include_readout),
                "random_state": random_state, "metrics": metrics}

    # 1. load and check every network and its data before writing anything
    data_cache: dict[tuple, Any] = {}
    networks = []
    for path in checkpoints:
        from .inputs import load_network

        net = load_network(path, trusted=trusted)
        if net.model is None:
            raise InputError(f"{path} holds only a graph; a robustness sweep evaluates the network, give its checkpoint")
        shape = net.input_shape if dataset in RESHAPABLE else None
        key = (dataset, shape)
        if key not in data_cache:
            options = {"input_shape": tuple(shape)} if shape is not None else {}
            data_cache[key] = get_dataset(dataset, data_root, "test", **options)
        sweeper, info = _prepare(net, data_cache[key], input_shape=None, fractions=fractions, scope=scope,
                                 include_readout=bool(include_readout), metrics=metrics, batch_size=batch_size,
                                 device=device, random_state=random_state, trusted=trusted)
        info["source"] = str(path)
        group = group_of(info["meta"], str(path), group_by)
        networks.append((str(path), _key(path, out), group, sweeper, info))

    check_writable(out / "robustness.csv", what="--out")
    out.mkdir(parents=True, exist_ok=True)
    csv, config = out / "robustness.csv", out / "robustness.json"
    with output_lock(out):
        if config.exists():
            try:
                stored = json.loads(config.read_text())
            except ValueError:
                raise InputError(f"{config} is not valid JSON; move it away or use another --out") from None
            changed = [k for k in settings if stored.get(k) != settings[k]]
            if changed:
                raise InputError(
                    f"{out} holds a sweep with other settings ({', '.join(f'{k}={stored.get(k)!r}' for k in changed)}); "
                    "rerun with the same settings to resume, or use another --out"
                )
        if not config.exists():
            atomic_write_text(config, json.dumps(settings, indent=2) + "\n")
        task_settings = {**settings, "data_root": None if data_root is None else os.fspath(data_root),
                         "batch_size": int(batch_size), "device": device, "trusted": trusted}
        specs = []
        for path, key, group, sweeper, info in networks:
            meta = info["meta"]
            ident = {"group": group, "checkpoint": path, "checkpoint_key": key, "seed": meta.get("seed"),
                     "arch": meta.get("arch"), "method": meta.get("method"), "sparsity": meta.get("sparsity"),
                     "dataset": dataset}
            say(f"{path} ({group}): unperturbed accuracy {sweeper.base_accuracy:.4f}")
            for p in perturbations:
                for r in range(repeats):
                    specs.append({"checkpoint": path, "checkpoint_key": key, "perturbation": p, "repeat": r,
                                  "settings": task_settings, "ident": ident, "base_accuracy": sweeper.base_accuracy})
            _keep_sweeper(_sweeper_key(specs[-1]), sweeper)  # this process reuses the networks checked above
        try:
            batch = run_batch(
                curve_task, specs, csv, key=_CURVE_KEY, executor=executor or LocalExecutor(n_jobs), many=True,
                is_done=lambda rows: len(rows) == len(fractions) and finished_group(rows),
                failed_row=lambda spec, message: {**spec["ident"], "perturbation": spec["perturbation"],
                                                  "repeat": spec["repeat"], "error": message},
                arrange=_arrange, resources=resources, lock=False, progress=progress, desc="robustness",
                what="robustness table", label=lambda spec: f"{spec['checkpoint']} {spec['perturbation']} #{spec['repeat']}",
            )
        finally:
            _SWEEPERS.clear()
            _DATA.clear()
        computed, skipped = batch.ran - batch.failed, batch.skipped
        table = batch.table

        # 3. figure and report from the whole table
        mine = table[table["error"].fillna("").astype(str).str.strip() == ""] if "error" in table else table
        mine = mine.drop(columns="error", errors="ignore")
        summary = summarize(mine, by=["group"])
        fig = robustness_figure(mine, by="group", perturbations=perturbations,
                                title=f"{dataset}: accuracy under perturbation (mean over repeats and seeds, min-max band)")
        atomic_write(out / "robustness.png", lambda fh: fig.savefig(fh, format="png", dpi=120), mode="wb")
        atomic_write_csv(out / "summary.csv", summary, index=False)
        seconds = time.perf_counter() - t0
        report = _report(mine, summary, summary_markdown(summary), networks, settings, perturbations, repeats, seconds,
                         computed, skipped)
        atomic_write_text(out / "report.md", report)
    paths = {"csv": csv, "figure": out / "robustness.png", "report": out / "report.md", "summary": out / "summary.csv",
             "settings": config}
    return RobustnessResult(mine, summary, paths, computed, skipped, seconds, batch.failures)


def _report(table, summary, summary_md, networks, settings, perturbations, repeats, seconds, computed, skipped) -> str:
    lines = [
        "# Robustness sweep", "",
        f"Data set: {settings['dataset']} (test split); perturbations: {', '.join(perturbations)}; fractions: "
        f"{', '.join(f'{f:g}' for f in settings['fractions'])}; repeats: {repeats}; scope: {settings['scope']}; "
        f"random_state: {settings['random_state']}.", "",
        "| group | checkpoint | seed | unperturbed acc. | active links | zeros treated as pruned | readout perturbed |",
        "|---|---|---|---|---|---|---|",
    ]
    for path, _, group, sweeper, info in networks:
        target_links = table.loc[table["checkpoint"] == path, "links_before"]
        links = int(target_links.iloc[0]) if len(target_links) else "n/a"
        readout = table.loc[table["checkpoint"] == path, "readout_included"]
        lines.append(f"| {group} | {Path(path).name} | {info['meta'].get('seed')} | {sweeper.base_accuracy:.4f} | {links} | "
                     f"{sweeper.zeros_as_pruned} | {bool(readout.iloc[0]) if len(readout) else 'n/a'} |")
    lines += ["", "## AUC and f50 (mean ± sd over repeats and seeds)", "", summary_md, "",
              "AUC: area under accuracy vs fraction divided by that of a network that never degrades (1 = no loss). "
              "f50: the fraction at which accuracy falls halfway from the unperturbed accuracy to chance "
              "(interpolated; `> f` when no curve got there, averaged over the curves that did).", "",
              "## Conventions", "",
              "- BatchNorm statistics are not recomputed after a perturbation (eval mode, the trained running statistics).",
              "- A link is active when its mask keeps it and its weight is not exactly zero: exact zeros count as pruned "
              "(column `zeros_as_pruned`; a checkpoint saved without masks is swept as the sparse network its zeros "
              "describe).",
              "- A readout kept dense is not perturbed unless `--include-readout`; a pruned readout is perturbed like the "
              "other prunable layers.",
              "- Removals are iterative (one run of removals per curve); shuffle and noise restart from the unperturbed "
              "weights at every fraction with the curve's common random numbers. Every curve has its own seeded "
              "generator (`curve_seed`); weight-order removals are deterministic, so their repeats coincide.",
              "", f"{computed} curves computed, {skipped} already in robustness.csv; {seconds:.0f} s.", ""]
    if any(sweeper.zeros_as_pruned for *_, sweeper, _ in networks):
        lines.insert(4, "**Note:** some checkpoints keep links whose weight is exactly zero; they were treated as pruned "
                        "(see the `zeros treated as pruned` column).\n")
    return "\n".join(lines)

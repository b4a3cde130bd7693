"""The data published with the paper (Cunegatti et al., TMLR 2024), read into results tables.

The authors' ``graph_data`` folder holds ``graph_metrics/{unrolled,rolled,rolled_channel}``
(topometrics of the three encodings) and ``ramanunjan_results`` (per-layer Ramanujan
metrics); the package ships the paper's dense and per-method accuracies
(``analysis/resources``).  The loaders map the published column and value names to
ours (:mod:`analysis.names`) and return results tables (:mod:`analysis.schema`).
Everything they clean is recorded: the returned frames carry the messages in
``df.attrs["report"]`` and every message is also logged on the ``analysis.data``
logger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from topocore.errors import DataMismatchError, DataNotFoundError, InputError
from topocore.tables import aggregate_layers as _mean_over_layers

from .names import (
    BASELINE_COLUMNS,
    BIPARTITE_FEATURES,
    KEY_COLUMNS,
    PAPER_ARCHS,
    PAPER_DATASETS,
    PAPER_METHODS,
    RAMANUJAN_COLUMN_MAP,
    RAMANUJAN_COLUMNS,
    ROLLED_COLUMN_MAP,
    ROLLED_SHORT_COLUMN_MAP,
    UNROLLED_COLUMN_MAP,
    UNROLLED_FEATURES,
    canonical_arch,
    canonical_dataset,
    canonical_method,
)
from .schema import add_accuracy_drop, aggregate_layers, network_label
from .schema import report as _report

__all__ = [
    "PublishedData",
    "resolve_graph_data",
    "load_dense_accuracy",
    "load_pai_accuracy",
    "attach_dense_accuracy",
    "select_paper_set",
    "load_unrolled",
    "load_rolled_layers",
    "load_rolled",
    "load_ramanujan_layers",
    "load_ramanujan",
    "baselines_from_layers",
    "load_published",
]


def _arch(name) -> str:
    """Published architecture names; ones the toolkit does not know (MobileNetV2) are kept."""
    return canonical_arch(name, strict=False)


def _dataset(name) -> str:
    return canonical_dataset(name, strict=False)


def _with_report(df: pd.DataFrame, messages: Sequence[str]) -> pd.DataFrame:
    df.attrs["report"] = list(messages)
    return df


def _resource(name: str):
    return resources.files("analysis.resources").joinpath(name)


def _percent_table(path, default: str) -> pd.DataFrame:
    if path is None:
        with _resource(default).open("r") as fh:
            return pd.read_csv(fh)
    return pd.read_csv(path)


def resolve_graph_data(path: str | Path) -> Path:
    """Return the ``graph_data`` folder given it, or a folder above it.

    Accepts ``.../graph_data`` itself, ``.../mge-snn`` or ``.../reference``.

    Raises
    ------
    topocore.errors.DataNotFoundError
        (a :class:`FileNotFoundError`) when no ``graph_metrics`` folder is found,
        naming the places looked at.
    """
    base = Path(path).expanduser()
    candidates = [base, base / "graph_data", base / "mge-snn" / "graph_data"]
    for cand in candidates:
        if (cand / "graph_metrics").is_dir():
            return cand
    looked = ", ".join(str(c / "graph_metrics") for c in candidates)
    raise DataNotFoundError(
        f"no published graph data under {str(base)!r} (looked for {looked}); pass the "
        "'graph_data' folder of the paper's repository (it holds graph_metrics/ and "
        "ramanunjan_results/)"
    )


def load_dense_accuracy(path: str | Path | None = None) -> pd.DataFrame:
    """Dense-network accuracies as fractions.

    Parameters
    ----------
    path : path, optional
        A CSV with ``dataset, arch, acc_mean[, acc_std]`` in percent; by default the
        paper's values shipped with the package.

    Returns
    -------
    DataFrame with ``arch, dataset, dense_accuracy, dense_accuracy_std``.
    """
    raw = _percent_table(path, "dense_accuracy.csv")
    missing = {"dataset", "arch", "acc_mean"} - set(raw.columns)
    if missing:
        raise InputError(f"dense accuracy table lacks columns {sorted(missing)}; expected dataset, arch, acc_mean (percent)")
    out = pd.DataFrame(
        {
            "arch": raw["arch"].map(_arch),
            "dataset": raw["dataset"].map(_dataset),
            "dense_accuracy": raw["acc_mean"].astype(float) / 100.0,
            "dense_accuracy_std": raw.get("acc_std", pd.Series(np.nan, index=raw.index)).astype(float) / 100.0,
        }
    )
    if out.duplicated(["arch", "dataset"]).any():
        raise InputError("dense accuracy table lists an (arch, dataset) pair twice")
    return out


def load_pai_accuracy(path: str | Path | None = None) -> pd.DataFrame:
    """The paper's per-method mean accuracies (Tables 8-10) as fractions.

    Returns
    -------
    DataFrame with ``arch, dataset, method, sparsity, accuracy, accuracy_std, note``;
    entries the paper marks as below chance have NaN accuracy and ``note ==
    "below_chance"``.
    """
    raw = _percent_table(path, "pai_accuracy.csv")
    missing = {"dataset", "arch", "pruner", "sparsity", "acc_mean"} - set(raw.columns)
    if missing:
        raise InputError(f"per-method accuracy table lacks columns {sorted(missing)}")
    return pd.DataFrame(
        {
            "arch": raw["arch"].map(_arch),
            "dataset": raw["dataset"].map(_dataset),
            "method": raw["pruner"].map(canonical_method),
            "sparsity": raw["sparsity"].astype(float).round(6),
            "accuracy": raw["acc_mean"].astype(float) / 100.0,
            "accuracy_std": raw.get("acc_std", pd.Series(np.nan, index=raw.index)).astype(float) / 100.0,
            "note": raw.get("note", pd.Series("", index=raw.index)).fillna("").astype(str),
        }
    )


def attach_dense_accuracy(df: pd.DataFrame, dense: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fill ``dense_accuracy`` from a dense table (default: the paper's) by (arch, dataset).

    Existing non-missing values are kept; rows with no match keep NaN.
    """
    dense = load_dense_accuracy() if dense is None else dense
    merged = df.merge(
        dense[["arch", "dataset", "dense_accuracy"]].rename(columns={"dense_accuracy": "_dense"}),
        on=["arch", "dataset"],
        how="left",
    )
    if "dense_accuracy" in merged.columns:
        merged["dense_accuracy"] = merged["dense_accuracy"].fillna(merged["_dense"])
    else:
        merged["dense_accuracy"] = merged["_dense"]
    merged.index = df.index
    return merged.drop(columns="_dense")


def select_paper_set(
    df: pd.DataFrame,
    archs: Sequence[str] = PAPER_ARCHS,
    datasets: Sequence[str] = PAPER_DATASETS,
    methods: Sequence[str] = PAPER_METHODS,
) -> pd.DataFrame:
    """Rows of the paper's 4 architectures x 3 data sets x 7 methods."""
    keep = df["arch"].isin(archs) & df["dataset"].isin(datasets) & df["method"].isin(methods)
    out = df.loc[keep].reset_index(drop=True)
    out.attrs = dict(df.attrs)
    return out


# --------------------------------------------------------------------------- published data


def _canonical_keys(raw: pd.DataFrame, method_col: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "arch": raw["model"].map(_arch),
            "dataset": raw["dataset"].map(_dataset),
            "method": raw[method_col].map(canonical_method),
            "sparsity": raw["sparsity"].astype(float).round(6),
            "seed": raw["seed"].astype(int),
            "accuracy": raw["accuracy"].astype(float),
        },
        index=raw.index,
    )


def _finish_networks(
    table: pd.DataFrame, features: Sequence[str], dense: pd.DataFrame | None, messages: list[str], what: str
) -> pd.DataFrame:
    n0 = len(table)
    table = table.drop_duplicates()
    if len(table) < n0:
        _report(messages, f"{what}: dropped {n0 - len(table)} exact duplicate rows")
    nan_rows = ~np.isfinite(table[list(features)].to_numpy(dtype=float)).all(axis=1)
    nan_rows = pd.Series(nan_rows, index=table.index)
    if nan_rows.any():
        bad = table.loc[nan_rows, list(KEY_COLUMNS)]
        listing = "; ".join(network_label(*r) for r in bad.itertuples(index=False))
        _report(messages, f"{what}: dropped {int(nan_rows.sum())} rows with missing or infinite feature values: {listing}")
        table = table.loc[~nan_rows]
    dup = table.duplicated(list(KEY_COLUMNS), keep=False)
    if dup.any():
        raise DataMismatchError(
            f"{what}: {int(dup.sum())} rows share a network key with different values, e.g. "
            f"{table.loc[dup, list(KEY_COLUMNS)].head(3).to_dict('records')}"
        )
    table = attach_dense_accuracy(table, dense)
    no_dense = table["dense_accuracy"].isna()
    if no_dense.any():
        pairs = sorted({(a, d) for a, d in table.loc[no_dense, ["arch", "dataset"]].itertuples(index=False)})
        _report(messages, f"{what}: no dense accuracy for {pairs} ({int(no_dense.sum())} rows keep NaN accuracy_drop)")
    table = add_accuracy_drop(table)
    cols = list(KEY_COLUMNS) + ["accuracy", "dense_accuracy", "accuracy_drop"]
    rest = [c for c in table.columns if c not in cols]
    table = table[cols + rest].sort_values(list(KEY_COLUMNS)).reset_index(drop=True)
    return table


def load_unrolled(
    graph_data: str | Path,
    *,
    paper_only: bool = False,
    dense: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The unrolled multipartite encoding's 16 topometrics, one row per network.

    Reads ``graph_metrics/unrolled/unrolled.csv`` (already size-normalised by the
    authors), maps names to ours, drops exact duplicate rows and rows with missing
    feature values (both reported), attaches dense accuracies and the accuracy drop.

    Parameters
    ----------
    graph_data : path
        The published ``graph_data`` folder (see :func:`resolve_graph_data`).
    paper_only : bool
        Keep only the paper's 4 architectures, 3 data sets and 7 methods.
    dense : DataFrame, optional
        Dense accuracies (:func:`load_dense_accuracy` format); default the paper's.
    """
    root = resolve_graph_data(graph_data)
    path = root / "graph_metrics" / "unrolled" / "unrolled.csv"
    if not path.is_file():
        raise DataNotFoundError(f"missing {path}: the published graph_data folder holds graph_metrics/unrolled/unrolled.csv")
    raw = pd.read_csv(path)
    needed = {"accuracy", "pruning", "sparsity", "model", "dataset", "seed"} | set(UNROLLED_COLUMN_MAP)
    missing = sorted(needed - set(raw.columns))
    if missing:
        raise InputError(f"{path.name} lacks columns {missing}; is it the published unrolled.csv?")
    messages: list[str] = []
    table = _canonical_keys(raw, "pruning")
    for src, dst in UNROLLED_COLUMN_MAP.items():
        table[dst] = raw[src].astype(float)
    table["num_nodes"] = raw["nodes"].astype(float)
    table["num_edges"] = raw["edges"].astype(float)
    table = table[list(KEY_COLUMNS) + ["accuracy"] + list(UNROLLED_FEATURES) + ["num_nodes", "num_edges"]]
    table = table.rename(columns={"num_nodes": "graph_nodes", "num_edges": "graph_edges"})
    if paper_only:
        table = select_paper_set(table)
    table = _finish_networks(table, UNROLLED_FEATURES, dense, messages, "unrolled")
    return _with_report(table, messages)


def _schema_map(columns: Sequence[str]) -> tuple[dict[str, str], str] | tuple[None, str]:
    cols = set(columns)
    if set(ROLLED_COLUMN_MAP) <= cols and "pruning_algorithm" in cols:
        return ROLLED_COLUMN_MAP, "pruning_algorithm"
    if set(ROLLED_SHORT_COLUMN_MAP) <= cols and "pruning" in cols:
        return ROLLED_SHORT_COLUMN_MAP, "pruning"
    return None, ""


def _schema_identity_problem(layers: pd.DataFrame) -> str | None:
    """Check two identities that hold for the intended quantities in every schema.

    ``n1 = 1 + edges / nodes`` (mean one-hop neighbourhood incl. the node itself)
    and ``component_size * components = nodes``.
    """
    nodes = layers["nodes"].to_numpy(float)
    edges = layers["edges"].to_numpy(float)
    n1 = layers["n1"].to_numpy(float)
    ok = np.isclose(n1, 1.0 + edges / nodes, rtol=1e-6, atol=1e-9)
    if not ok.all():
        return f"n1 != 1 + edges/nodes on {int((~ok).sum())} of {len(ok)} layers"
    prod = layers["component_size"].to_numpy(float) * layers["components"].to_numpy(float)
    ok = np.isclose(prod, nodes, rtol=1e-6)
    if not ok.all():
        return f"component_size * components != nodes on {int((~ok).sum())} of {len(ok)} layers"
    return None


def load_rolled_layers(
    graph_data: str | Path,
    encoding: str = "rolled",
    *,
    messages: list[str] | None = None,
) -> pd.DataFrame:
    """Per-layer rolled (or rolled-channel) bipartite topometrics of every published file.

    Both published schemas are read: the 57-column one and the 21-column one of two
    files, whose columns carry the same quantities under other names (checked per
    file through ``n1 = 1 + edges/nodes`` and ``component_size * components =
    nodes``; a file failing the check is excluded and the reason reported).

    Returns
    -------
    DataFrame with the key columns, ``accuracy, layer_id, layer_name,
    layer_density, nodes, edges`` and the 10 :data:`~analysis.names.BIPARTITE_FEATURES`.
    """
    if encoding not in ("rolled", "rolled_channel"):
        raise InputError(f"encoding must be 'rolled' or 'rolled_channel', got {encoding!r}")
    root = resolve_graph_data(graph_data)
    folder = root / "graph_metrics" / encoding
    files = sorted(folder.glob(f"{encoding}-*.csv"))
    if not files:
        raise DataNotFoundError(f"no {encoding}-*.csv files in {folder}; pass the published graph_data folder")
    messages = [] if messages is None else messages
    frames = []
    for path in files:
        raw = pd.read_csv(path)
        colmap, method_col = _schema_map(raw.columns)
        base = {"accuracy", "sparsity", "model", "dataset", "seed", "layer_id", "layer_name", "layer_sparsity", "nodes", "edges"}
        if colmap is None or not base <= set(raw.columns):
            _report(messages, f"{encoding}: excluded {path.name}: its columns match neither published schema")
            continue
        layers = _canonical_keys(raw, method_col)
        layers["layer_id"] = raw["layer_id"].astype(int)
        layers["layer_name"] = raw["layer_name"].astype(str)
        layers["layer_density"] = raw["layer_sparsity"].astype(float)
        layers["nodes"] = raw["nodes"].astype(float)
        layers["edges"] = raw["edges"].astype(float)
        for src, dst in colmap.items():
            layers[dst] = raw[src].astype(float)
        problem = _schema_identity_problem(layers)
        if problem is not None:
            _report(messages, f"{encoding}: excluded {path.name}: {problem}")
            continue
        if colmap is ROLLED_SHORT_COLUMN_MAP:
            _report(
                messages,
                f"{encoding}: {path.name} uses the 21-column schema; mapped "
                + ", ".join(f"{s}->{d}" for s, d in colmap.items()),
            )
        frames.append(layers)
    if not frames:
        why = "; ".join(m for m in messages if m.startswith(f"{encoding}: excluded "))
        raise InputError(f"no usable {encoding} files in {folder}: {why}")
    return pd.concat(frames, ignore_index=True)


def load_rolled(
    graph_data: str | Path,
    encoding: str = "rolled",
    *,
    paper_only: bool = False,
    dense: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Rolled (or rolled-channel) bipartite encoding: per-network means of the 10 bipartite topometrics.

    See :func:`load_rolled_layers` and :func:`aggregate_layers`.
    """
    messages: list[str] = []
    layers = load_rolled_layers(graph_data, encoding, messages=messages)
    if paper_only:
        layers = select_paper_set(layers)
    table = aggregate_layers(layers, BIPARTITE_FEATURES, messages=messages, what=encoding)
    table = _finish_networks(table, BIPARTITE_FEATURES, dense, messages, encoding)
    return _with_report(table, messages)


def load_ramanujan_layers(graph_data: str | Path, *, messages: list[str] | None = None) -> pd.DataFrame:
    """Per-layer Ramanujan metrics with the pruning method taken from ``rolled/``.

    The files in ``ramanunjan_results/<model>/`` have no method column; their rows
    follow the matching ``graph_metrics/rolled/`` file, which gives the method.
    Every row's accuracy, sparsity, seed and layer name are checked against it.

    Returns
    -------
    DataFrame with the key columns, ``accuracy, layer_id, layer_name,
    layer_density, delta_r_bound_ratio, delta_r_imdb_bound_ratio, lambda_imsg`` (the
    published ``layer_sparsity``, ``degree_bound``, ``iterative_degree_bound`` and
    ``iterative_spectral_gap``; :data:`analysis.names.RAMANUJAN_COLUMN_MAP`).

    Raises
    ------
    DataMismatchError
        When a file has no rolled counterpart, a different number of rows, or a row
        whose accuracy, sparsity, seed or layer name differs.
    """
    root = resolve_graph_data(graph_data)
    folder = root / "ramanunjan_results"
    files = sorted(folder.glob("*/*.csv"))
    if not files:
        raise DataNotFoundError(f"no Ramanujan result files in {folder}/<model>/; pass the published graph_data folder")
    messages = [] if messages is None else messages
    frames = []
    for path in files:
        partner = root / "graph_metrics" / "rolled" / path.name
        if not partner.is_file():
            raise DataMismatchError(f"{path.relative_to(root)} has no counterpart {partner.relative_to(root)} to take the method from")
        ram = pd.read_csv(path)
        rol = pd.read_csv(partner)
        method_col = "pruning_algorithm" if "pruning_algorithm" in rol.columns else "pruning"
        needed = {"accuracy", "sparsity", "seed", "layer_name", "model", "dataset"} | set(RAMANUJAN_COLUMN_MAP)
        missing = sorted(needed - set(ram.columns))
        if missing:
            raise InputError(f"{path.name} lacks columns {missing}; is it a published Ramanujan result file?")
        if len(ram) != len(rol):
            raise DataMismatchError(
                f"{path.relative_to(root)} has {len(ram)} rows but {partner.relative_to(root)} has {len(rol)}; "
                "the method can only be taken row by row from files of equal length"
            )
        for col in ("accuracy", "sparsity", "seed", "layer_name"):
            a, b = ram[col].to_numpy(), rol[col].to_numpy()
            same = np.isclose(a.astype(float), b.astype(float), rtol=0, atol=1e-12) if col != "layer_name" else (a.astype(str) == b.astype(str))
            if not same.all():
                i = int(np.flatnonzero(~same)[0])
                raise DataMismatchError(
                    f"{path.relative_to(root)} row {i} ({col}={a[i]!r}) does not match "
                    f"{partner.relative_to(root)} row {i} ({col}={b[i]!r}); cannot attach methods"
                )
        layers = _canonical_keys(ram.assign(**{method_col: rol[method_col].to_numpy()}), method_col)
        layers["layer_id"] = ram["layer_id"].astype(int) if "layer_id" in ram.columns else np.arange(len(ram))
        layers["layer_name"] = ram["layer_name"].astype(str)
        for src, dst in RAMANUJAN_COLUMN_MAP.items():
            layers[dst] = ram[src].astype(float)
        for col in RAMANUJAN_COLUMNS:
            inf = np.isinf(layers[col].to_numpy())
            if inf.any():
                layers.loc[inf, col] = np.nan
                _report(messages, f"ramanujan: {path.name}: {int(inf.sum())} infinite {col} values (layers with mean degree < 1) treated as undefined")
        frames.append(layers)
    _report(messages, f"ramanujan: methods attached to {len(files)} files row by row (accuracy, sparsity, seed, layer name verified)")
    return pd.concat(frames, ignore_index=True)


def load_ramanujan(
    graph_data: str | Path,
    *,
    paper_only: bool = False,
    dense: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per-network baselines: mean layer density and mean Ramanujan metrics over layers.

    A Ramanujan metric is undefined on layers violating its graph constraints
    (published as NaN); the network mean is over the layers where it is defined and
    NaN when it is defined on none (such networks are counted in the report).
    """
    messages: list[str] = []
    layers = load_ramanujan_layers(graph_data, messages=messages)
    if paper_only:
        layers = select_paper_set(layers)
    return baselines_from_layers(layers, dense=dense, messages=messages)


def baselines_from_layers(
    layers: pd.DataFrame, *, dense: pd.DataFrame | None = None, messages: list[str] | None = None
) -> pd.DataFrame:
    """Per-network means over layers of ``layer_density`` and the Ramanujan metrics (see :func:`load_ramanujan`)."""
    messages = [] if messages is None else messages
    keys = list(KEY_COLUMNS)
    table = _mean_over_layers(layers, list(BASELINE_COLUMNS), by=keys).drop(columns="num_layers")
    accuracy = layers.groupby(keys, sort=True)["accuracy"].first().reset_index()
    table = table.merge(accuracy, on=keys, how="left", validate="one_to_one")
    for col in RAMANUJAN_COLUMNS:
        n_undef = int(table[col].isna().sum())
        if n_undef:
            _report(messages, f"ramanujan: {col} undefined on every layer of {n_undef} networks (kept as NaN)")
    n0 = len(table)
    table = attach_dense_accuracy(table, dense)
    table = add_accuracy_drop(table)
    cols = keys + ["accuracy", "dense_accuracy", "accuracy_drop"] + list(BASELINE_COLUMNS)
    table = table[cols].sort_values(keys).reset_index(drop=True)
    assert len(table) == n0
    return _with_report(table, messages)


@dataclass
class PublishedData:
    """Everything loaded from a published ``graph_data`` folder.

    Attributes
    ----------
    encodings : dict
        ``{"unrolled": table, "rolled": table, "rolled_channel": table}``.
    baselines : DataFrame
        Per-network mean layer density and Ramanujan metrics.
    ramanujan_layers : DataFrame
        Per-layer Ramanujan metrics and layer density.
    report : list of str
        What the loaders dropped, filled, mapped or excluded.
    """

    encodings: dict[str, pd.DataFrame]
    baselines: pd.DataFrame
    ramanujan_layers: pd.DataFrame
    report: list[str] = field(default_factory=list)


def load_published(
    graph_data: str | Path,
    *,
    paper_only: bool = True,
    dense: pd.DataFrame | None = None,
) -> PublishedData:
    """Load every published table (see the individual loaders)."""
    report: list[str] = []
    encodings = {"unrolled": load_unrolled(graph_data, paper_only=paper_only, dense=dense)}
    for enc in ("rolled", "rolled_channel"):
        encodings[enc] = load_rolled(graph_data, enc, paper_only=paper_only, dense=dense)
    layer_msgs: list[str] = []
    ram_layers = load_ramanujan_layers(graph_data, messages=layer_msgs)
    if paper_only:
        ram_layers = select_paper_set(ram_layers)
    baselines = baselines_from_layers(ram_layers, dense=dense, messages=layer_msgs)
    for df in list(encodings.values()) + [baselines]:
        report.extend(df.attrs.get("report", []))
        df.attrs = {}  # the report lives in PublishedData.report
    for name, df in encodings.items():
        report.append(f"{name}: {len(df)} networks")
    return PublishedData(encodings, baselines, ram_layers, report)

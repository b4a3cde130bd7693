"""The paper's published accuracies as the rank job uses them: true rankings and training targets."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from analysis.published import attach_dense_accuracy, load_pai_accuracy
from topocore.errors import InputError
from topocore.names import PAPER_ARCHS, PAPER_METHODS, PAPER_SPARSITIES

__all__ = ["published_ranking", "with_published_accuracy", "check_published", "published_counts", "pooled_methods"]

#: Extra reference methods tried, cheapest first (layer-wise random ones need no scoring), when pooling.
POOL_ORDER = ("uniform", "er", "erk", "synflow", "snip", "grasp", "prospr")


def published_counts(arch: str, references: Sequence[str], methods: Sequence[str], sparsities: Sequence[float]) -> dict:
    """``{sparsity: number of reference networks with a published accuracy}`` for these methods."""
    pai = load_pai_accuracy().dropna(subset=["accuracy"])
    pai = pai[(pai["arch"] == arch) & pai["dataset"].isin(references) & pai["method"].isin(methods)]
    return {s: int(np.isclose(pai["sparsity"], s).sum()) for s in sparsities}


def pooled_methods(arch: str, references: Sequence[str], methods: Sequence[str], sparsities: Sequence[float],
                   need: int) -> tuple[str, ...]:
    """Methods of the reference networks: ``methods`` plus the fewest paper methods that give every sparsity
    at least ``need`` reference networks with a published accuracy (the smallest group the importance CV takes).

    Returns ``methods`` unchanged when they suffice, or when even all the paper's methods do not (then
    :func:`check_published` says what is missing).
    """
    chosen = list(dict.fromkeys(methods))
    for extra in POOL_ORDER:
        if min(published_counts(arch, references, chosen, sparsities).values(), default=need) >= need:
            break
        if extra not in chosen:
            chosen.append(extra)
    if min(published_counts(arch, references, chosen, sparsities).values(), default=need) < need:
        return tuple(methods)
    return tuple(chosen)


def published_ranking(arch: str, dataset: str, sparsity: float, methods: Sequence[str]) -> list[str] | None:
    """Methods sorted by the paper's published mean accuracy (best first), or None when not published.

    Methods without a published accuracy (or marked below chance) are left out.
    """
    pai = load_pai_accuracy()
    sub = pai[(pai["arch"] == arch) & (pai["dataset"] == dataset) & (np.isclose(pai["sparsity"], sparsity)) & (pai["method"].isin(methods))]
    sub = sub.dropna(subset=["accuracy"])
    if sub.empty:
        return None
    sub = sub.sort_values(["accuracy", "method"], ascending=[False, True], kind="mergesort")
    return sub["method"].tolist()


def with_published_accuracy(networks: pd.DataFrame) -> pd.DataFrame:
    """``networks`` with the published ``accuracy`` and ``dense_accuracy`` of each (arch, data set, method, sparsity)."""
    pai = load_pai_accuracy()[["arch", "dataset", "method", "sparsity", "accuracy"]]
    net = networks.drop(columns=[c for c in ("accuracy", "dense_accuracy") if c in networks.columns])
    net = net.assign(sparsity=net["sparsity"].astype(float).round(6))
    merged = net.merge(pai, on=["arch", "dataset", "method", "sparsity"], how="left")
    return attach_dense_accuracy(merged)


def _paper_choices() -> str:
    return (
        f"use the paper's architectures ({', '.join(PAPER_ARCHS)}), sparsities "
        f"({', '.join(f'{s:g}' for s in PAPER_SPARSITIES)}) and methods ({', '.join(PAPER_METHODS)})"
    )


def check_published(arch: str, references: Sequence[str], methods: Sequence[str], sparsities: Sequence[float]) -> None:
    """Fail before any work when the paper published no accuracy to learn the importances from.

    Every sparsity needs at least 5 reference networks with a published accuracy (one
    5-fold CV); raises :class:`~topocore.errors.InputError` naming what is missing.
    """
    pai = load_pai_accuracy().dropna(subset=["accuracy"])
    pai = pai[(pai["arch"] == arch) & pai["dataset"].isin(references) & pai["method"].isin(methods)]
    short = [s for s in sparsities if int(np.isclose(pai["sparsity"], s).sum()) < 5]
    if short:
        raise InputError(
            f"the paper published no accuracies (fewer than 5 networks) for {arch} at sparsities {short} on "
            f"{', '.join(references)} with methods {', '.join(methods)}: the importances cannot be estimated; "
            + _paper_choices()
        )


def no_published_accuracies(arch: str, sparsities: Sequence[float], references: Sequence[str]) -> InputError:
    """The error for a reference table without any published accuracy."""
    return InputError(
        f"the paper published no accuracies for {arch} at sparsities {list(sparsities)} on {', '.join(references)}: "
        "the importances cannot be estimated; " + _paper_choices()
    )

"""Learning connectivity: sparsity penalties on edge gates and the derived block graph.

For models with gated edges between blocks (the zoo's ``dagnet``, see
:mod:`pruners.models.dagnet`): a penalty added to the loss by
``pruners.train(..., penalty=...)`` drives unneeded gates to zero, and
:func:`derive_topology` reads off the block graph that is left.

Penalties (``connectivity_penalty(name, lam)``), over the active edges ``j -> i`` of the
wiring (``edge_mask`` = 1) with gate parameter ``alpha_ji``:

==============  ============================================  ============================================
name            loss term                                     source
==============  ============================================  ============================================
``l1``          ``lam * sum |alpha_ji|``                      TopoNet's uniform sparsity, Eq. 6
                                                              (Yuan et al., ECCV 2020)
``l1_adaptive`` ``lam * sum log(delta_i) * |alpha_ji|``       TopoNet's adaptive sparsity, Eq. 8: the
                                                              L1 gradient of every in-edge of node ``i``
                                                              is scaled by ``log(delta_i)``
``tanh_l1``     ``lam * sum |tanh(alpha_ji)|``                Janik & Nowak 2021, Eq. 2
==============  ============================================  ============================================

``delta_i`` is the in-degree of node ``i``: the number of its active in-edges when the
penalty is evaluated (TopoNet counts the entries ``alpha != 0`` of the node's row of the
adjacency matrix; a removed edge has a gate of exactly 0).  Eq. 8 adds
``lam * log(delta_i)`` to the L1 gradient of ``alpha_ji``, which is the gradient of the
term above; a node with a single in-edge (``log 1 = 0``) is not penalised, "to ensure the
smooth flow of information" (TopoNet, Section 3.3).

:func:`derive_topology` then keeps the edges by a rule -- ``"threshold"``: gates with
``|g| >= tau`` (Janik & Nowak: ``tau = 0.006``), or ``"topk"``: the ``k`` strongest
in-edges of every node (DARTS's rule, ``k = 2``, that TopoNAS criticises) -- removes dead
nodes and edges (those on no input-to-output path; Janik & Nowak's "dead paths") and
returns the block graph as a :class:`networkx.DiGraph`.  :func:`apply_topology` gates the
removed edges of the model to exactly 0.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn as nn

from topocore.errors import InputError

__all__ = [
    "PENALTIES",
    "RULES",
    "ConnectivityPenalty",
    "connectivity_penalty",
    "derive_topology",
    "apply_topology",
    "topology_to_meta",
    "topology_from_meta",
    "gated_edges",
    "check_rule",
]

PENALTIES = ("l1", "l1_adaptive", "tanh_l1")
RULES = ("threshold", "topk")
#: Janik & Nowak's threshold.
DEFAULT_TAU = 0.006
#: DARTS's two in-edges per node.
DEFAULT_K = 2


def _check_gated(model: Any) -> nn.Module:
    needed = ("alpha", "edge_mask", "edges", "gate_values", "stage_of", "input_node", "output_node")
    if not isinstance(model, nn.Module) or not all(hasattr(model, a) for a in needed):
        raise InputError(
            f"{type(model).__name__} has no gated edges between blocks; connectivity penalties and derive_topology "
            "need a model like the zoo's dagnet (get_model('dagnet', ...))"
        )
    return model


def gated_edges(model: nn.Module) -> dict[str, Any]:
    """The model's edge list, gate parameters, mask and target nodes (for penalties and analyses)."""
    model = _check_gated(model)
    targets = torch.as_tensor([i for _, i in model.edges], dtype=torch.int64, device=model.alpha.device)
    return {"edges": list(model.edges), "alpha": model.alpha, "mask": model.edge_mask, "targets": targets}


class ConnectivityPenalty:
    """A sparsity penalty on the edge gates: ``penalty(model) -> scalar tensor`` (see the module docstring).

    Parameters
    ----------
    name : {"l1", "l1_adaptive", "tanh_l1"}
    lam : float
        The coefficient lambda (>= 0).
    """

    def __init__(self, name: str, lam: float) -> None:
        key = str(name).lower().replace("-", "_")
        if key not in PENALTIES:
            raise InputError(f"unknown connectivity penalty {name!r}; choose one of {', '.join(PENALTIES)}")
        try:
            lam = float(lam)
        except (TypeError, ValueError):
            raise InputError(f"the penalty coefficient lambda must be a number, got {lam!r}") from None
        if not math.isfinite(lam) or lam < 0:
            raise InputError(f"the penalty coefficient lambda must be finite and >= 0, got {lam}")
        self.name = key
        self.lam = lam
        self._targets: tuple[int, torch.device, torch.Tensor] | None = None

    def _edge_targets(self, model: nn.Module) -> torch.Tensor:
        device = model.alpha.device
        if self._targets is None or self._targets[0] != id(model) or self._targets[1] != device:
            self._targets = (id(model), device, gated_edges(model)["targets"])
        return self._targets[2]

    def coefficients(self, model: nn.Module) -> torch.Tensor:
        """Per-edge coefficient multiplying ``|alpha|`` (or ``|tanh alpha|``): ``lam``, or ``lam log(delta_i)``."""
        mask = _check_gated(model).edge_mask.detach()
        if self.name != "l1_adaptive":
            return mask * self.lam
        targets = self._edge_targets(model)
        indeg = torch.zeros(int(model.output_node) + 1, dtype=mask.dtype, device=mask.device)
        indeg.index_add_(0, targets, (mask != 0).to(mask.dtype))
        delta = indeg[targets].clamp_min(1.0)
        return mask * self.lam * torch.log(delta)

    def __call__(self, model: nn.Module) -> torch.Tensor:
        coef = self.coefficients(model)
        alpha = model.alpha
        values = torch.tanh(alpha) if self.name == "tanh_l1" else alpha
        return (coef * values.abs()).sum()

    def __repr__(self) -> str:
        return f"ConnectivityPenalty({self.name!r}, lam={self.lam:g})"


def connectivity_penalty(name: str, lam: float) -> ConnectivityPenalty:
    """The penalty ``name`` with coefficient ``lam`` (see the module docstring), for ``pruners.train(penalty=...)``."""
    return ConnectivityPenalty(name, lam)


# --------------------------------------------------------------------------- derived topology


def check_rule(rule: str, tau: float | None, k: int | None) -> tuple[str, float | None, int | None]:
    """Validated ``(rule, tau, k)`` of :func:`derive_topology` with the defaults filled in."""
    key = str(rule).lower()
    if key not in RULES:
        raise InputError(f"unknown topology rule {rule!r}; choose one of {', '.join(RULES)}")
    if key == "threshold":
        if k is not None:
            raise InputError("k applies to rule='topk'; rule='threshold' takes tau")
        tau = DEFAULT_TAU if tau is None else tau
        try:
            tau = float(tau)
        except (TypeError, ValueError):
            raise InputError(f"tau must be a number, got {tau!r}") from None
        if not math.isfinite(tau) or tau < 0:
            raise InputError(f"tau must be finite and >= 0, got {tau}")
        return key, tau, None
    if tau is not None:
        raise InputError("tau applies to rule='threshold'; rule='topk' takes k")
    k = DEFAULT_K if k is None else k
    if isinstance(k, bool) or not isinstance(k, (int, float)) or int(k) != k or int(k) < 1:
        raise InputError(f"k must be an integer >= 1, got {k!r}")
    return key, None, int(k)


def _bottleneck(n: int, weighted: list[tuple[int, int, float]], source: int, target: int) -> float:
    """Largest ``tau`` that keeps an input-to-output path: max over paths of the smallest gate on it."""
    best = [-1.0] * n
    best[source] = math.inf
    for j, i, w in sorted(weighted, key=lambda e: (e[1], e[0])):  # sources precede targets (j < i)
        if best[j] >= 0:
            best[i] = max(best[i], min(best[j], w))
    return best[target]


def derive_topology(
    model: nn.Module,
    rule: str = "threshold",
    *,
    tau: float | None = None,
    k: int | None = None,
    apply: bool = False,
):
    """The block graph learned by a gated model, with dead nodes and edges removed.

    Parameters
    ----------
    model : torch.nn.Module
        A model with gated edges (the zoo's ``dagnet``).
    rule : {"threshold", "topk"}
        ``"threshold"`` keeps the active edges with ``|g| >= tau`` (and ``g != 0``);
        ``"topk"`` keeps, of every node, the ``k`` in-edges of largest ``|g|`` among those with
        ``g != 0`` (ties: the lower source index first), whether or not their sources are
        reachable; the dead nodes and edges are removed afterwards, so the k strongest
        in-edges of a node can all come from dead nodes and leave none.
    tau : float, optional
        Threshold, default 0.006 (Janik & Nowak).  Only with ``rule="threshold"``.
    k : int, optional
        In-edges kept per node, default 2 (DARTS).  Only with ``rule="topk"``.
    apply : bool
        Also gate the removed edges of ``model`` to exactly 0 (:func:`apply_topology`).

    Returns
    -------
    networkx.DiGraph
        Nodes: the blocks on an input-to-output path (attribute ``stage``); edges: the kept
        edges on such a path, attribute ``weight`` = ``|g|`` (the gate magnitude; Janik &
        Nowak analyse ``|tanh w|``) and ``gate`` = the signed gate value.  ``graph.graph``
        holds ``input``, ``output``, ``rule``, ``tau`` or ``k``, ``gate`` and
        ``initial_edges`` (the number of edges of the model's wiring).

    Raises
    ------
    InputError
        For an unknown rule, ``tau < 0``, ``k < 1``, a model without gates, or when no
        input-to-output path is left (the message gives the largest ``tau`` that keeps
        one).

    Notes
    -----
    Dead nodes and edges are removed as in Janik & Nowak (Section 3): a kept edge survives
    when its source is reachable from the input and its target reaches the output.
    Time O(E log E).
    """
    import networkx as nx

    model = _check_gated(model)
    rule, tau, k = check_rule(rule, tau, k)
    with torch.no_grad():
        gates = model.gate_values().detach().cpu().tolist()
    # candidates: every edge whose gate is not exactly 0 (a removed edge's gate is 0 through edge_mask, so an edge
    # gated to 0 and a removed one are the same); reachability is decided after the rule, on the kept edges only
    weighted = [(j, i, abs(g)) for (j, i), g in zip(model.edges, gates) if g != 0.0]
    signed = {(j, i): g for (j, i), g in zip(model.edges, gates)}
    source, target = int(model.input_node), int(model.output_node)
    if rule == "threshold":
        kept = [(j, i) for j, i, w in weighted if w >= tau]
    else:
        by_target: dict[int, list[tuple[int, int, float]]] = {}
        for e in weighted:
            by_target.setdefault(e[1], []).append(e)
        kept = []
        for i, es in by_target.items():
            es.sort(key=lambda e: (-e[2], e[0]))
            kept += [(j, i) for j, i, _ in es[:k]]
    g = nx.DiGraph()
    g.add_edges_from(kept)
    if source not in g or target not in g or not nx.has_path(g, source, target):
        if rule == "threshold":
            limit = _bottleneck(target + 1, weighted, source, target)
            hint = (f"the largest tau that keeps one is {limit:.4g}; choose tau <= {limit:.4g}" if limit >= 0
                    else "the model itself has no active input-to-output path")
            raise InputError(f"no input-to-output path is left after thresholding the gates at tau={tau:g}: {hint}")
        raise InputError(f"no input-to-output path is left with the top-{k} in-edges per node")
    alive = (nx.descendants(g, source) | {source}) & (nx.ancestors(g, target) | {target})
    out = nx.DiGraph(g.subgraph(alive))
    for node in out.nodes:
        out.nodes[node]["stage"] = int(model.stage_of[node])
    for j, i in out.edges:
        out.edges[j, i]["weight"] = abs(signed[(j, i)])
        out.edges[j, i]["gate"] = signed[(j, i)]
    out.graph.update({"input": source, "output": target, "rule": rule, "gate": str(model.gate),
                      "initial_edges": len(model.edges)})
    if tau is not None:
        out.graph["tau"] = tau
    if k is not None:
        out.graph["k"] = k
    if apply:
        apply_topology(model, out)
    return out


def apply_topology(model: nn.Module, graph) -> int:
    """Gate every edge of ``model`` that is not in ``graph`` to exactly 0; return how many were removed.

    ``graph`` is a :class:`networkx.DiGraph` (e.g. from :func:`derive_topology`) or an
    iterable of ``(j, i)`` edges, all of them edges of the model's wiring.  The model's
    ``edge_mask`` buffer is set to 0 for the removed edges (so the gate ``g(alpha) *
    edge_mask`` is exactly 0 whatever the gate function) and its live structure is
    recomputed; ``model.derived_topology`` records the graph as plain data (see
    :func:`topology_to_meta`) for the checkpoint metadata.
    """
    import networkx as nx

    model = _check_gated(model)
    keep = set((int(j), int(i)) for j, i in (graph.edges() if isinstance(graph, nx.Graph) else graph))
    unknown = keep - set(model.edges)
    if unknown:
        raise InputError(f"edge {sorted(unknown)[0]} is not an edge of this model's wiring; derive the graph from this model")
    removed = 0
    with torch.no_grad():
        for idx, e in enumerate(model.edges):
            if e not in keep and float(model.edge_mask[idx]) != 0.0:
                model.edge_mask[idx] = 0.0
                removed += 1
    model._sync_structure()
    if isinstance(graph, nx.Graph):
        model.derived_topology = topology_to_meta(graph)
    return removed


def topology_to_meta(graph) -> dict[str, Any]:
    """A derived block graph as plain data for checkpoint metadata.

    ``{"edges": [[j, i, gate], ...], "stages": {node: stage}, **graph.graph}`` (node keys
    as strings, the only key type metadata allows).
    """
    info = {k: v for k, v in graph.graph.items() if isinstance(v, (int, float, str, bool))}
    info["edges"] = [[int(j), int(i), float(d.get("gate", d.get("weight", 1.0)))] for j, i, d in graph.edges(data=True)]
    info["stages"] = {str(n): int(d["stage"]) for n, d in graph.nodes(data=True) if "stage" in d}
    return info


def topology_from_meta(info: Mapping[str, Any]):
    """Inverse of :func:`topology_to_meta`: the :class:`networkx.DiGraph` (``weight`` = ``|gate|``)."""
    import networkx as nx

    try:
        edges = [(int(j), int(i), float(g)) for j, i, g in info["edges"]]
    except (KeyError, TypeError, ValueError):
        raise InputError("the stored derived topology has no readable 'edges' list of [j, i, gate]") from None
    g = nx.DiGraph()
    for j, i, gate in edges:
        g.add_edge(j, i, weight=abs(gate), gate=gate)
    for n, s in dict(info.get("stages") or {}).items():
        if int(n) in g:
            g.nodes[int(n)]["stage"] = int(s)
    g.graph.update({k: v for k, v in info.items() if k not in ("edges", "stages")})
    return g

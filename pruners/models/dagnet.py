"""``dagnet``: a network wired by a directed acyclic graph of blocks with learnable edge gates.

The architecture of Yuan et al. (ECCV 2020, "Learning Connectivity of Neural Networks from
a Topological Perspective", TopoNet) and Janik & Nowak (2021, "Connectivity Properties of
Neural Networks Under Performance-Resources Trade-off"): the network is a DAG whose nodes
are blocks and whose edges carry a learnable scalar gate; a sparsity penalty on the gates
(:mod:`pruners.connectivity`) then learns which blocks talk to which.

Structure
---------
* ``nodes=(n_0, n_1, ...)`` nodes in stages of decreasing resolution, numbered
  ``0 .. N-1`` in stage order (``N = sum(nodes)``).  Stage ``s`` has ``channels * 2**s``
  channels (or ``channels[s]`` for a tuple) and the input resolution divided by
  ``2**s`` (rounded up).
* Node 0 is the input: a 3x3 conv from the image channels to stage 0's channels and a
  BatchNorm; it aggregates nothing and only distributes its features (TopoNet's head,
  Janik & Nowak's input node "sets the initial number of channels").
* Every other node ``i`` computes ``a_i = sum over in-edges (j -> i) of g(alpha_ji) * x_j``
  and then ``x_i = BN(Conv3x3(ReLU(a_i))) + Conv1x1(a_i)`` (Janik & Nowak's node: the
  1x1 conv is the residual from the aggregated sum to the block output).
* An edge that crosses from stage ``s`` to stage ``t > s`` passes ``x_j`` through its own
  *reduce block* (1x1 conv with stride ``2**(t - s)`` and ``C_s -> C_t`` channels, then
  BatchNorm) before the gate.
* Node ``N-1`` is the output; global average pooling and a linear classifier follow.
* Initialisation: Kaiming-normal (fan-in) like the other zoo models, with the ReLU gain for
  the 3x3 convs (their input is a ReLU output) and the linear gain for the 1x1 residual and
  reduce convs (their inputs are not), the residual conv of a node with ``n`` in-edges
  further divided by ``sqrt(n)``, BatchNorm to the identity.  Without the ``sqrt(n)`` the
  residual paths compound the sums along the DAG: at initialisation the 60-node complete
  DAG's logits have a standard deviation of about 25 (0.7 with it) and training at
  lr 0.1 diverges.

Wiring (``graph=``)
-------------------
* ``"complete"`` (default): every edge ``j -> i`` with ``j < i`` -- the complete DAG in
  topological order within and across stages (TopoNet, Janik & Nowak); ``N (N-1) / 2``
  edges (1,770 for 60 nodes).
* ``"er"``, ``"ws"``, ``"ba"``: an undirected random graph on the N nodes from networkx
  (``erdos_renyi_graph(N, p)``, ``watts_strogatz_graph(N, k, p)``,
  ``barabasi_albert_graph(N, m)``, seeded with ``graph_random_state``), each edge oriented from
  the lower to the higher node index (RandWire, Xie et al. 2019).  As in RandWire, every
  node other than the input without an in-edge then gets the edge ``0 -> i`` and every
  node other than the output without an out-edge the edge ``i -> N-1``, so every node lies
  on an input-to-output path.  Defaults ``p=0.2`` (ER), ``k=4, p=0.75`` (WS), ``m=5`` (BA)
  are TopoNet's Table 4 settings.
* a user-given graph: a ``networkx.DiGraph`` on nodes ``0 .. N-1`` or a list of ``(j, i)``
  pairs.  It must be acyclic, orient every edge from a lower to a higher index, and every
  edge must lie on a path from node 0 to node ``N-1``; nodes without any edge are simply
  absent (no parameters).  This is how a derived topology is retrained from scratch.

Gates (``gate=``)
-----------------
=========  =====================  ===================  ==========================================
gate       g(alpha)               initial gate value   source
=========  =====================  ===================  ==========================================
identity   alpha                  1.0 (alpha = 1)      TopoNet ("initialized to be 1")
tanh       tanh(alpha)            0.5 (alpha=atanh .5) Janik & Nowak (constant, "not to bias" it)
sigmoid    1 / (1 + exp(-alpha))  0.5 (alpha = 0)      RandWire / Janik & Nowak 2020
=========  =====================  ===================  ==========================================

``gate_init`` overrides the initial gate value (the same for every edge).  The gate of edge
``k`` is ``g(alpha[k]) * edge_mask[k]``; the buffer ``edge_mask`` (1.0 or 0.0) is what
:func:`pruners.connectivity.apply_topology` sets to remove an edge, so a removed edge's gate
is exactly 0 for every gate function.  The forward pass only computes *live* nodes and
edges: active edges on a path from node 0 to node ``N-1`` (the others cannot change the
output), which is also what :func:`encoders.encode` sees.  The buffer ``edge_index``
(2 x E) records the wiring, so a checkpoint whose wiring differs from the rebuilt model's
refuses to load.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from topocore.errors import InputError

from ._init import kaiming_init

__all__ = ["DAGNet", "GATES", "GRAPHS", "dagnet", "build_edges"]

#: Gate functions and their default initial gate values.
GATES: dict[str, float] = {"identity": 1.0, "tanh": 0.5, "sigmoid": 0.5}
#: Generated wirings (a user-given graph is accepted too).
GRAPHS = ("complete", "er", "ws", "ba")


def _gate_inverse(gate: str, value: float) -> float:
    """``alpha`` with ``g(alpha) = value``."""
    if gate == "identity":
        return float(value)
    if gate == "tanh":
        if not -1.0 < value < 1.0:
            raise InputError(f"gate_init={value} is outside tanh's range (-1, 1); choose a value like 0.5")
        return math.atanh(value)
    if not 0.0 < value < 1.0:
        raise InputError(f"gate_init={value} is outside the sigmoid's range (0, 1); choose a value like 0.5")
    return math.log(value / (1.0 - value))


def _check_nodes(nodes: Any) -> tuple[int, ...]:
    if isinstance(nodes, int) or nodes is None:
        raise InputError(f"nodes must be a tuple of node counts per stage like (8, 8, 8), got {nodes!r}")
    try:
        out = tuple(int(n) for n in nodes)
    except (TypeError, ValueError):
        raise InputError(f"nodes must be a tuple of node counts per stage like (8, 8, 8), got {nodes!r}") from None
    if not out:
        raise InputError("nodes=() has no stage; give node counts per stage like (8, 8, 8)")
    small = [i for i, n in enumerate(out) if n < 2]
    if small:
        raise InputError(
            f"every stage needs at least 2 nodes, stage {small[0]} of nodes={out} has {out[small[0]]}; "
            "merge it into a neighbouring stage or give it more nodes"
        )
    return out


def _fix_sources_sinks(n: int, edges: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """RandWire's rule: connect in-degree-0 nodes from the input and out-degree-0 nodes to the output."""
    has_in = {v for _, v in edges}
    has_out = {u for u, _ in edges}
    out = set(edges)
    for i in range(1, n):
        if i not in has_in:
            out.add((0, i))
    for i in range(n - 1):
        if i not in has_out:
            out.add((i, n - 1))
    return out


def _user_edges(graph: Any, n: int) -> list[tuple[int, int]]:
    import networkx as nx

    if isinstance(graph, nx.Graph):
        if not graph.is_directed():
            raise InputError("a user-given dagnet graph must be a networkx.DiGraph (directed), not an undirected Graph")
        if not nx.is_directed_acyclic_graph(graph):
            cycle = nx.find_cycle(graph)
            raise InputError(f"the dagnet graph is cyclic (cycle {[u for u, _ in cycle]}); give a directed acyclic graph")
        pairs = list(graph.edges())
    else:
        try:
            pairs = [tuple(e) for e in graph]
        except TypeError:
            raise InputError(
                f"graph must be one of {GRAPHS}, a networkx.DiGraph or a list of (j, i) edges, got {graph!r}"
            ) from None
        if any(len(e) != 2 for e in pairs):
            raise InputError("a dagnet edge list holds (j, i) pairs of node indices")
    try:
        edges = [(int(u), int(v)) for u, v in pairs]
    except (TypeError, ValueError):
        raise InputError("dagnet graph nodes must be the integers 0 .. N-1 (node index = topological order)") from None
    if len(set(edges)) != len(edges):
        raise InputError("the dagnet edge list has an edge twice")
    bad = [(u, v) for u, v in edges if not (0 <= u < n and 0 <= v < n)]
    if bad:
        raise InputError(f"edge {bad[0]} names a node outside 0 .. {n - 1} (nodes per stage sum to {n})")
    if any(u == v for u, v in edges):
        raise InputError(f"the dagnet graph is cyclic (self-loop on node {next(u for u, v in edges if u == v)})")
    back = [(u, v) for u, v in edges if u > v]
    if back:
        g = nx.DiGraph(edges)
        if not nx.is_directed_acyclic_graph(g):
            raise InputError(f"the dagnet graph is cyclic (cycle {[u for u, _ in nx.find_cycle(g)]}); give a DAG")
        raise InputError(
            f"edge {back[0]} goes from a higher to a lower node index; number the nodes in topological order "
            "(the index decides the stage)"
        )
    g = nx.DiGraph(edges)
    if 0 not in g or n - 1 not in g or not nx.has_path(g, 0, n - 1):
        raise InputError(f"the dagnet graph is disconnected: no path from the input node 0 to the output node {n - 1}")
    alive = (nx.descendants(g, 0) | {0}) & (nx.ancestors(g, n - 1) | {n - 1})
    dead = [(u, v) for u, v in edges if u not in alive or v not in alive]
    if dead:
        raise InputError(
            f"the dagnet graph is disconnected: {len(dead)} edge(s), e.g. {dead[0]}, lie on no path from node 0 to "
            f"node {n - 1}; remove them or connect their nodes"
        )
    return sorted(edges, key=lambda e: (e[1], e[0]))


def build_edges(
    num_nodes: int, graph: Any = "complete", *, p: float | None = None, k: int | None = None,
    m: int | None = None, random_state: int | None = 0,
) -> list[tuple[int, int]]:
    """The initial wiring of a dagnet with ``num_nodes`` nodes, as ``(j, i)`` pairs sorted by ``(i, j)``.

    See the module docstring for the wirings; ``random_state`` seeds the random generators.
    """
    n = int(num_nodes)
    if isinstance(graph, str):
        kind = graph.lower()
        if kind not in GRAPHS:
            raise InputError(f"unknown dagnet graph {graph!r}; choose one of {', '.join(GRAPHS)} or pass a DiGraph / edge list")
        if kind == "complete":
            if p is not None or k is not None or m is not None:
                raise InputError("p, k and m apply to the random graphs er / ws / ba, not to graph='complete'")
            return [(j, i) for i in range(1, n) for j in range(i)]
        import networkx as nx

        from topocore.random import seed_of

        seed = seed_of(random_state)
        if kind == "er":
            if k is not None or m is not None:
                raise InputError("graph='er' takes p only")
            prob = 0.2 if p is None else float(p)
            if not 0.0 <= prob <= 1.0:
                raise InputError(f"p must lie in [0, 1], got {p}")
            und = nx.erdos_renyi_graph(n, prob, seed=seed)
        elif kind == "ws":
            if m is not None:
                raise InputError("graph='ws' takes k and p, not m")
            kk = 4 if k is None else int(k)
            prob = 0.75 if p is None else float(p)
            if not 0.0 <= prob <= 1.0:
                raise InputError(f"p must lie in [0, 1], got {p}")
            if not 2 <= kk < n:
                raise InputError(f"graph='ws' needs 2 <= k < number of nodes ({n}), got k={kk}")
            und = nx.watts_strogatz_graph(n, kk, prob, seed=seed)
        else:
            if p is not None or k is not None:
                raise InputError("graph='ba' takes m only")
            mm = 5 if m is None else int(m)
            if not 1 <= mm < n:
                raise InputError(f"graph='ba' needs 1 <= m < number of nodes ({n}), got m={mm}")
            und = nx.barabasi_albert_graph(n, mm, seed=seed)
        edges = {(min(u, v), max(u, v)) for u, v in und.edges() if u != v}
        edges = _fix_sources_sinks(n, edges)
        return sorted(edges, key=lambda e: (e[1], e[0]))
    if p is not None or k is not None or m is not None:
        raise InputError("p, k and m apply to the random graphs er / ws / ba, not to a user-given graph")
    return _user_edges(graph, n)


class DAGNode(nn.Module):
    """``BN(Conv3x3(ReLU(a))) + Conv1x1(a)`` on the aggregated input ``a``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.residual = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(F.relu(a))) + self.residual(a)


class Reduce(nn.Module):
    """Strided 1x1 conv + BN on an edge that crosses ``stride_log2`` stage boundaries."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class DAGNet(nn.Module):
    """A DAG of blocks with gated edges (see the module docstring).

    Parameters
    ----------
    num_classes : int
    input_shape : (C, H, W)
    nodes : tuple of int
        Nodes per stage (each >= 2).  Default ``(20, 20, 20)``: Janik & Nowak's 60 nodes.
    channels : int or tuple of int
        Channels of stage 0 (doubled at every further stage), or one count per stage.
        Default 16.
    graph : str, networkx.DiGraph or list of (j, i)
        ``"complete"``, ``"er"``, ``"ws"``, ``"ba"`` or a user-given DAG.
    p, k, m : optional
        Random-graph parameters (ER: p; WS: k, p; BA: m).
    graph_random_state : int
        Seed of the random wiring (``er``, ``ws``, ``ba``).  The weights follow torch's global
        RNG like every zoo model; ``pruners.models.build(..., random_state=...)`` seeds them.
    gate : {"identity", "tanh", "sigmoid"}
        Gate function (default ``"tanh"``, Janik & Nowak).
    gate_init : float, optional
        Initial gate value of every edge (default: 1.0 identity, 0.5 tanh/sigmoid).

    Attributes
    ----------
    edges : list of (j, i)
        The wiring; ``alpha[k]``, ``edge_mask[k]`` and ``edge_index[:, k]`` belong to
        ``edges[k]``.
    stage_of : list of int
        Stage of every node.
    """

    def __init__(
        self,
        num_classes: int = 10,
        input_shape: tuple[int, int, int] = (3, 32, 32),
        nodes: Sequence[int] = (20, 20, 20),
        channels: int | Sequence[int] = 16,
        graph: Any = "complete",
        p: float | None = None,
        k: int | None = None,
        m: int | None = None,
        graph_random_state: int | None = 0,
        gate: str = "tanh",
        gate_init: float | None = None,
    ) -> None:
        super().__init__()
        stages = _check_nodes(nodes)
        if not isinstance(gate, str) or gate.lower() not in GATES:
            raise InputError(f"unknown gate {gate!r}; choose one of {', '.join(GATES)}")
        gate = gate.lower()
        if isinstance(channels, (int, float)) and not isinstance(channels, bool):
            if int(channels) < 1:
                raise InputError(f"channels must be >= 1, got {channels}")
            widths = tuple(int(channels) * 2**s for s in range(len(stages)))
        else:
            widths = tuple(int(c) for c in channels)
            if len(widths) != len(stages) or min(widths) < 1:
                raise InputError(f"channels must be an int or one positive count per stage ({len(stages)}), got {channels!r}")
        c_in, h, w = (int(s) for s in input_shape)
        self.nodes = stages
        self.widths = widths
        self.gate = gate
        self.num_nodes = sum(stages)
        self.stage_of = [s for s, n in enumerate(stages) for _ in range(n)]
        self.input_node = 0
        self.output_node = self.num_nodes - 1
        self.edges = build_edges(self.num_nodes, graph, p=p, k=k, m=m, random_state=graph_random_state)
        g0 = GATES[gate] if gate_init is None else float(gate_init)
        alpha0 = _gate_inverse(gate, g0)

        used = {0, self.output_node} | {u for u, _ in self.edges} | {v for _, v in self.edges}
        self.stem = nn.Sequential(nn.Conv2d(c_in, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]))
        self.blocks = nn.ModuleDict({f"n{i}": DAGNode(widths[self.stage_of[i]]) for i in range(1, self.num_nodes) if i in used})
        self.reduce = nn.ModuleDict()
        for j, i in self.edges:
            sj, si = self.stage_of[j], self.stage_of[i]
            if sj != si:
                self.reduce[f"e{j}_{i}"] = Reduce(widths[sj], widths[si], 2 ** (si - sj))
        self.fc = nn.Linear(widths[-1], int(num_classes))
        self.alpha = nn.Parameter(torch.full((len(self.edges),), alpha0))
        self.register_buffer("edge_mask", torch.ones(len(self.edges)))
        self.register_buffer("edge_index", torch.tensor(self.edges, dtype=torch.int64).reshape(-1, 2).T.contiguous())
        kaiming_init(self)
        for module in [b.residual for b in self.blocks.values()] + [r.conv for r in self.reduce.values()]:
            # their inputs are not ReLU outputs: Kaiming's linear gain
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="linear")
        indeg = {i: 0 for i in range(self.num_nodes)}
        for _, i in self.edges:
            indeg[i] += 1
        with torch.no_grad():  # the residual of a sum of n inputs starts with the variance of one input
            for name, block in self.blocks.items():
                block.residual.weight.div_(math.sqrt(max(indeg[int(name[1:])], 1)))
        self._sync_structure()
        self.register_load_state_dict_post_hook(lambda module, incompatible: module._sync_structure())

    # ------------------------------------------------------------------ structure
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        key = prefix + "edge_index"
        if key in state_dict and tuple(state_dict[key].shape) == tuple(self.edge_index.shape):
            if not torch.equal(state_dict[key].to(self.edge_index.device), self.edge_index):
                error_msgs.append(
                    f"{key}: the stored wiring differs from this dagnet's wiring (same number of edges, other edges); "
                    "rebuild it with the same graph / graph_random_state"
                )
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)

    def _sync_structure(self) -> None:
        """Recompute the live nodes and edges from ``edge_mask`` (called after loading and by apply_topology)."""
        active = [e for e, on in zip(self.edges, self.edge_mask.tolist()) if on != 0.0]
        fwd = {0}
        for j, i in active:  # edges are sorted by target, sources precede targets
            if j in fwd:
                fwd.add(i)
        bwd = {self.output_node}
        for j, i in sorted(active, key=lambda e: -e[0]):
            if i in bwd:
                bwd.add(j)
        live = fwd & bwd
        self._live_nodes = sorted(n for n in live if n != 0)
        self._in_edges: dict[int, list[int]] = {n: [] for n in self._live_nodes}
        index = {e: k for k, e in enumerate(self.edges)}
        for j, i in active:
            if j in live and i in live:
                self._in_edges[i].append(index[(j, i)])
        last_use: dict[int, int] = {}
        for i in self._live_nodes:
            for kk in self._in_edges[i]:
                last_use[self.edges[kk][0]] = i
        self._free_after: dict[int, list[int]] = {}
        for j, i in last_use.items():
            self._free_after.setdefault(i, []).append(j)
        # the fused forward pushes every output along its out-edges: same stage, and one group per later stage
        self._push: dict[int, tuple[list[tuple[int, int]], dict[int, list[tuple[int, int]]]]] = {}
        for i in self._live_nodes:
            for kk in self._in_edges[i]:
                j = self.edges[kk][0]
                same, cross = self._push.setdefault(j, ([], {}))
                if self.stage_of[j] == self.stage_of[i]:
                    same.append((kk, i))
                else:
                    cross.setdefault(self.stage_of[i], []).append((kk, i))

    @property
    def live_nodes(self) -> list[int]:
        """Nodes on an input-to-output path of active edges (the input node included)."""
        return [0, *self._live_nodes] if self._live_nodes else []

    @property
    def live_edges(self) -> list[tuple[int, int]]:
        """Active edges between live nodes: the wiring the forward pass computes."""
        return [self.edges[k] for i in self._live_nodes for k in self._in_edges[i]]

    def gate_values(self) -> torch.Tensor:
        """``g(alpha) * edge_mask``: the gate of every edge (exactly 0 for a removed edge)."""
        if self.gate == "tanh":
            g = torch.tanh(self.alpha)
        elif self.gate == "sigmoid":
            g = torch.sigmoid(self.alpha)
        else:
            g = self.alpha
        return g * self.edge_mask

    def live_parameter_count(self) -> int:
        """Parameters used by the forward pass (blocks and reduce blocks of live nodes and edges)."""
        live = set(self.live_nodes)
        edges = set(self.live_edges)
        total = sum(p.numel() for p in self.stem.parameters()) + sum(p.numel() for p in self.fc.parameters())
        total += sum(p.numel() for name, b in self.blocks.items() for p in b.parameters() if int(name[1:]) in live)
        total += sum(p.numel() for j, i in edges if f"e{j}_{i}" in self.reduce for p in self.reduce[f"e{j}_{i}"].parameters())
        return total + len(edges)

    # ------------------------------------------------------------------ forward
    #: Use the fused forward pass in eager mode (see :meth:`forward`); tests switch it off to compare.
    fused: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for ``x``.

        Two implementations of the same function: traced by :mod:`torch.fx` (as
        :func:`encoders.encode` does) the forward pass is written edge by edge -- every
        edge's reduce block, then ``term = h * gate``, then the sum in source order -- so
        that the encoder sees each block and gate.  In eager mode (``fused = True``) the
        output of every node is pushed along its out-edges with ``addcmul`` (same sums,
        same order), and the reduce blocks of all edges from one node into one later
        stage run as one matrix product (a strided 1x1 convolution) with their weights
        concatenated and one batch norm
        over the concatenated channels (per-channel statistics: the same as separate
        BatchNorms; the running statistics are written back to each block; in eval mode
        the batch norm is folded into the convolution).  Tests check
        that both give the same outputs, gradients and running statistics.
        """
        if not self._live_nodes:
            raise InputError(
                f"this dagnet has no input-to-output path of active edges (all {len(self.edges)} gates removed); "
                "derive the topology with a lower tau"
            )
        if self.fused and not isinstance(x, torch.fx.Proxy):
            return self._forward_fused(x)
        gates = self.gate_values().unbind(0)
        outs: dict[int, torch.Tensor] = {0: self.stem(x)}
        for i in self._live_nodes:
            agg = None
            for kk in self._in_edges[i]:
                j = self.edges[kk][0]
                h = outs[j]
                if self.stage_of[j] != self.stage_of[i]:
                    h = self.reduce[f"e{j}_{i}"](h)
                term = h * gates[kk]
                agg = term if agg is None else agg + term
            outs[i] = self.blocks[f"n{i}"](agg)
            for j in self._free_after.get(i, ()):
                del outs[j]
        y = outs[self.output_node]
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))

    def _forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        gates = self.gate_values().unbind(0)
        aggs: dict[int, torch.Tensor] = {}

        def add(i: int, h: torch.Tensor, k: int) -> None:
            aggs[i] = h * gates[k] if i not in aggs else torch.addcmul(aggs[i], h, gates[k])

        def push(j: int, h: torch.Tensor) -> None:
            same, cross = self._push.get(j, ((), {}))
            for k, i in same:
                add(i, h, k)
            for group in cross.values():
                for (k, i), y in zip(group, self._grouped_reduce(j, group, h)):
                    add(i, y, k)

        push(0, self.stem(x))
        y = x
        for i in self._live_nodes:
            y = self.blocks[f"n{i}"](aggs.pop(i))
            if i != self.output_node:
                push(i, y)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))

    def _grouped_reduce(self, j: int, group: list[tuple[int, int]], h: torch.Tensor) -> list[torch.Tensor]:
        """The reduce blocks of the edges ``j -> i`` of ``group`` (one target stage) as one conv + one BN."""
        mods = [self.reduce[f"e{j}_{i}"] for _, i in group]
        bns = [m.bn for m in mods]
        b0 = bns[0]
        uniform = all(
            b.momentum == b0.momentum and b.eps == b0.eps and b.affine and b.track_running_stats
            and b.training == b0.training for b in bns
        ) and b0.momentum is not None
        if len(mods) == 1 or not uniform:
            return [m(h) for m in mods]
        s = mods[0].conv.stride[0]
        weight = torch.cat([m.conv.weight for m in mods], 0).flatten(1)  # (sum of Cout, Cin): a 1x1 conv
        mean = torch.cat([b.running_mean for b in bns])
        var = torch.cat([b.running_var for b in bns])
        gamma, beta = torch.cat([b.weight for b in bns]), torch.cat([b.bias for b in bns])
        sub = h[:, :, ::s, ::s]  # a strided 1x1 conv reads every s-th position (no padding)
        n, c, hh, ww = sub.shape
        if not b0.training:  # eval: fold the (affine) batch norm into the 1x1 conv, its shift as a column
            scale = gamma * torch.rsqrt(var + b0.eps)
            folded = torch.cat([weight * scale.view(-1, 1), (beta - mean * scale).view(-1, 1)], 1)
            ones = torch.ones(n, 1, hh, ww, dtype=h.dtype, device=h.device)
            y = torch.matmul(folded, torch.cat([sub, ones], 1).view(n, c + 1, hh * ww))
            return list(y.view(n, -1, hh, ww).split(b0.num_features, dim=1))
        y = torch.matmul(weight, sub.reshape(n, c, hh * ww)).view(n, -1, hh, ww)  # the 1x1 convs as one product
        y = F.batch_norm(y, mean, var, gamma, beta, True, b0.momentum, b0.eps)
        if b0.training:  # F.batch_norm updated the concatenated copies: write them back
            with torch.no_grad():
                width = b0.num_features
                for n, b in enumerate(bns):
                    b.running_mean.copy_(mean[n * width : (n + 1) * width])
                    b.running_var.copy_(var[n * width : (n + 1) * width])
                    b.num_batches_tracked.add_(1)
        return list(y.split(b0.num_features, dim=1))

    def extra_repr(self) -> str:
        return (f"nodes={self.nodes}, channels={self.widths}, gate={self.gate!r}, edges={len(self.edges)}, "
                f"live_edges={len(self.live_edges)}")


def dagnet(num_classes: int = 10, input_shape: tuple[int, int, int] = (3, 32, 32), random_state: int | None = None,
           **kwargs: Any) -> DAGNet:
    """Zoo factory of :class:`DAGNet` (see the module docstring for the options).

    ``random_state`` (``get_model("dagnet", ..., random_state=0)``) fixes the whole model:
    it seeds the random wiring (unless ``graph_random_state`` is given) and the weights
    (torch's generator is forked, the caller's state is left as it was).  Without it the
    wiring uses ``graph_random_state`` (default 0) and the weights torch's global
    generator, like every zoo model (``pruners.models.build(..., random_state=...)`` seeds
    those).
    """
    if random_state is None:
        return DAGNet(num_classes=num_classes, input_shape=input_shape, **kwargs)
    from topocore.random import seed_of, seeded

    seed = seed_of(random_state)
    kwargs.setdefault("graph_random_state", seed)
    with seeded(seed):
        return DAGNet(num_classes=num_classes, input_shape=input_shape, **kwargs)


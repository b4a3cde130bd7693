"""Post-training perturbations of a sparse network: link removal, weight shuffling, weight noise.

The perturbations of the robustness study of Sulyok, Palla, Radicchi and Fortunato
("Robustness in sparse artificial neural networks trained with adaptive topology"), as
pure torch operations on weight and mask tensors:

==================================  ====================================================
``random_removal``                  remove uniformly random active links
``weight_order_removal``            remove the active links with the largest ``|w|`` first
``reverse_weight_order_removal``    remove the active links with the smallest ``|w|`` first
``shuffle``                         permute the weights among a random fraction of the
                                    active links of each layer (mask kept)
``noise``                           add ``N(0, (f * sd_layer)^2)`` to every active link
==================================  ====================================================

Every perturbation is a generator function ``perturbation(weights, masks, fractions, *,
scope="global", generator=None)``: ``weights`` and ``masks`` are equal-length lists of
tensors (one weight tensor and one boolean mask per layer, same shapes), ``fractions`` an
increasing sequence in ``[0, 1]``.  It modifies the tensors **in place** and yields, after
applying each fraction ``f`` in turn, the number of links the network at ``f`` differs in
(removed, shuffled or noised).  The *active links* are the ``True`` entries of the masks
when the generator starts; a fraction is always of those.

* **Removals are iterative**: the network at ``f = 0.3`` is the one at ``f = 0.2`` with a
  further 0.1 of the links removed, so the removed set grows monotonically and one curve is
  one run.  A removal sets the weight to exactly 0 and the mask entry to ``False``.  At
  fraction ``f`` exactly ``k(f) = floor(f * n + 1/2)`` links are removed, ``n`` being the
  number of active links (with ``scope="layer"``: ``k_l(f)`` of each layer's ``n_l``).
* **Shuffle and noise are applied to the unperturbed weights at every fraction** (they do
  not accumulate), with common random numbers along a curve: the shuffled links at ``f``
  are a superset of those at smaller fractions, and the noise at ``f`` is ``f`` times one
  standard-normal draw per link, so ``f = 0`` is exactly the identity.
* ``scope="global"`` pools the links of all layers (weight orders compare ``|w|`` across
  layers); ``scope="layer"`` applies the fraction to every layer separately.
* Every random draw comes from ``generator`` (a ``torch.Generator``; ``None``: a fresh one
  seeded with 0), never from torch's global generator.

:func:`perturbable` picks the tensors of a model (the masked-in links of its prunable
layers; a readout kept dense is left out unless ``include_readout=True``) and
:func:`perturb` runs a perturbation on a model.  BatchNorm running statistics are never
recomputed after a perturbation: the network is evaluated with the statistics it was
trained with.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Mapping, Sequence

import torch
import torch.nn as nn

from topocore.errors import InputError
from topocore.masks import prunable_layers, prunable_types

__all__ = [
    "PERTURBATIONS",
    "SCOPES",
    "DEFAULT_FRACTIONS",
    "random_removal",
    "weight_order_removal",
    "reverse_weight_order_removal",
    "shuffle",
    "noise",
    "check_fractions",
    "check_perturbations",
    "removal_count",
    "Perturbable",
    "perturbable",
    "perturb",
]

#: Where a fraction applies: all layers pooled, or every layer on its own.
SCOPES = ("global", "layer")
#: The sweep's default fractions 0, 0.1, ..., 0.9.
DEFAULT_FRACTIONS = tuple(round(0.1 * i, 1) for i in range(10))


# --------------------------------------------------------------------------- validation
def check_fractions(fractions: Sequence[float]) -> list[float]:
    """``fractions`` as a list of floats, checked: non-empty, finite, in ``[0, 1]``, strictly increasing.

    Raises
    ------
    topocore.errors.InputError
        Naming the offending value and the fix.
    """
    if isinstance(fractions, (int, float)):
        fractions = [fractions]
    try:
        values = [float(f) for f in fractions]
    except (TypeError, ValueError):
        raise InputError(f"fractions must be numbers in [0, 1], got {fractions!r}; pass e.g. 0,0.1,0.2") from None
    if not values:
        raise InputError("fractions is empty; pass at least one fraction in [0, 1], e.g. 0,0.1,...,0.9")
    for f in values:
        if not math.isfinite(f) or f < 0.0 or f > 1.0:
            raise InputError(f"fraction {f!r} is outside [0, 1]; fractions are shares of the active links, e.g. 0,0.1,...,0.9")
    for a, b in zip(values, values[1:]):
        if not b > a:
            raise InputError(
                f"fractions must be strictly increasing (removal is iterative), got {a!r} before {b!r}; sort them and "
                "drop repeats"
            )
    return values


def check_scope(scope: str) -> str:
    """``scope`` checked against :data:`SCOPES`."""
    if scope not in SCOPES:
        raise InputError(f"scope must be 'global' (all layers pooled) or 'layer' (each layer), got {scope!r}")
    return scope


def removal_count(fraction: float, n: int) -> int:
    """``floor(fraction * n + 1/2)``: the number of the ``n`` links a fraction stands for (half rounds up)."""
    return min(int(n), int(math.floor(float(fraction) * int(n) + 0.5)))


def _check_tensors(weights: Sequence[torch.Tensor], masks: Sequence[torch.Tensor]) -> None:
    if len(weights) != len(masks):
        raise InputError(f"got {len(weights)} weight tensors and {len(masks)} masks; pass one mask per weight tensor")
    for i, (w, m) in enumerate(zip(weights, masks)):
        if tuple(w.shape) != tuple(m.shape):
            raise InputError(f"weight {i} has shape {tuple(w.shape)} but its mask {tuple(m.shape)}; pass matching masks")
        if m.dtype != torch.bool:
            raise InputError(f"mask {i} has dtype {m.dtype}; pass boolean masks")
        if not (w.is_contiguous() and m.is_contiguous()):
            raise InputError(f"weight {i} or its mask is not contiguous; pass contiguous tensors (perturbed in place)")


def _generator(generator: torch.Generator | None) -> torch.Generator:
    return torch.Generator().manual_seed(0) if generator is None else generator


def _active(masks: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Flat indices (on the CPU, where every draw and sort happens) of the active links of every layer."""
    return [torch.nonzero(m.reshape(-1).cpu(), as_tuple=False).reshape(-1) for m in masks]


def _values(w: torch.Tensor, ix: torch.Tensor) -> torch.Tensor:
    """The weights at flat positions ``ix``, on the CPU."""
    return w.detach().reshape(-1)[ix.to(w.device)].cpu()


def _write(w: torch.Tensor, ix: torch.Tensor, values) -> None:
    with torch.no_grad():
        w.reshape(-1)[ix.to(w.device)] = values.to(w.device, w.dtype) if isinstance(values, torch.Tensor) else values


# ------------------------------------------------------------------------------ removals
def _removal(
    weights: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    fractions: Sequence[float],
    scope: str,
    order_of: Callable[[torch.Tensor], torch.Tensor],
) -> Iterator[int]:
    """Remove links in the order ``order_of(|w| of the active links)``; yield the removed count per fraction."""
    _check_tensors(weights, masks)
    fractions = check_fractions(fractions)
    check_scope(scope)
    index = _active(masks)
    if scope == "global":
        layer = torch.cat([torch.full((len(ix),), i, dtype=torch.long) for i, ix in enumerate(index)]) if index else torch.zeros(0, dtype=torch.long)
        flat = torch.cat(index) if index else torch.zeros(0, dtype=torch.long)
        values = torch.cat([_values(w, ix).abs().float() for w, ix in zip(weights, index)]) if index else torch.zeros(0)
        order = order_of(values)
        queues = [(layer[order], flat[order])]
    else:
        queues = []
        for i, (w, ix) in enumerate(zip(weights, index)):
            order = order_of(_values(w, ix).abs().float())
            queues.append((torch.full((len(ix),), i, dtype=torch.long), ix[order]))
    done = [0] * len(queues)
    removed = 0
    for f in fractions:
        for q, (layer_of, position) in enumerate(queues):
            k = removal_count(f, len(position))
            if k > done[q]:
                chunk_layer, chunk_pos = layer_of[done[q]:k], position[done[q]:k]
                for i in torch.unique(chunk_layer).tolist():
                    pos = chunk_pos[chunk_layer == i]
                    _write(weights[i], pos, 0.0)
                    masks[i].reshape(-1)[pos.to(masks[i].device)] = False
                removed += k - done[q]
                done[q] = k
        yield removed


def random_removal(
    weights: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    fractions: Sequence[float],
    *,
    scope: str = "global",
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Remove uniformly random active links, iteratively.

    Definition: one uniformly random permutation ``pi`` of the ``n`` active links is drawn
    (of all layers pooled, or of each layer with ``scope="layer"``); the network at fraction
    ``f`` has the links ``pi[0 : k(f)]`` removed (weight set to 0, mask to ``False``),
    ``k(f) = floor(f * n + 1/2)``.  The removed sets are nested in ``f``.

    Complexity: ``O(n)`` for the permutation and ``O(n)`` writes over the whole curve.
    Yields the number of links removed so far after each fraction (see the module docstring).
    """
    g = _generator(generator)
    return _removal(weights, masks, fractions, scope, lambda v: torch.randperm(len(v), generator=g))


def weight_order_removal(
    weights: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    fractions: Sequence[float],
    *,
    scope: str = "global",
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Remove the active links with the largest ``|w|`` first, iteratively.

    Definition: the active links sorted by decreasing ``|w|`` (stable: ties keep layer and
    row-major position order), pooled over layers or per layer with ``scope="layer"``; the
    network at ``f`` has the first ``k(f) = floor(f * n + 1/2)`` removed.  Deterministic
    (``generator`` is unused), so repeats give identical curves.

    Complexity: ``O(n log n)`` for the sort.
    """
    return _removal(weights, masks, fractions, scope, lambda v: torch.sort(v, descending=True, stable=True).indices)


def reverse_weight_order_removal(
    weights: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    fractions: Sequence[float],
    *,
    scope: str = "global",
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Remove the active links with the smallest ``|w|`` first, iteratively (magnitude pruning).

    Definition: the active links sorted by increasing ``|w|`` (stable, as in
    :func:`weight_order_removal`); the network at ``f`` has the first ``k(f)`` removed.
    Deterministic (``generator`` is unused).

    Complexity: ``O(n log n)`` for the sort.
    """
    return _removal(weights, masks, fractions, scope, lambda v: torch.sort(v, descending=False, stable=True).indices)


# ---------------------------------------------------------------------- weight changes
def shuffle(
    weights: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    fractions: Sequence[float],
    *,
    scope: str = "global",
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Permute the weights among a random fraction of the active links of each layer.

    Definition: one uniformly random order of the active links is drawn (all layers pooled
    with ``scope="global"``, each layer's own with ``scope="layer"``); at fraction ``f`` the
    first ``k(f) = floor(f * n + 1/2)`` links of that order are *selected* and, in every
    layer, the unperturbed weights of its selected links are reassigned among them by a
    fresh uniformly random permutation (weights never move between layers, so a layer keeps
    its weight distribution; a permutation may leave a link its own weight).  The mask and
    the multiset of each layer's weights are unchanged; the selected sets are nested in
    ``f``.  Yields the number of selected links.

    Complexity: ``O(n)`` per fraction.
    """
    _check_tensors(weights, masks)
    fractions = check_fractions(fractions)
    check_scope(scope)
    g = _generator(generator)
    index = _active(masks)
    original = [_values(w, ix).clone() for w, ix in zip(weights, index)]
    if scope == "global":
        n = sum(len(ix) for ix in index)
        rank = torch.empty(n, dtype=torch.long)
        rank[torch.randperm(n, generator=g)] = torch.arange(n)
        ranks = list(torch.split(rank, [len(ix) for ix in index]))  # each link's place in the pooled order
    else:
        ranks = []
        for ix in index:
            r = torch.empty(len(ix), dtype=torch.long)
            r[torch.randperm(len(ix), generator=g)] = torch.arange(len(ix))
            ranks.append(r)
    total = sum(len(ix) for ix in index)
    for f in fractions:
        selected = 0
        for w, ix, w0, r in zip(weights, index, original, ranks):
            k = removal_count(f, total if scope == "global" else len(ix))
            pick = torch.nonzero(r < k, as_tuple=False).reshape(-1)
            values = w0.clone()
            if len(pick) > 1:
                values[pick] = w0[pick[torch.randperm(len(pick), generator=g)]]
            _write(w, ix, values)
            selected += len(pick)
        yield selected


def noise(
    weights: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    fractions: Sequence[float],
    *,
    scope: str = "global",
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Add Gaussian noise of standard deviation ``f * sd_layer`` to every active link.

    Definition: ``sd_layer`` is the (population) standard deviation of the layer's active
    weights before the perturbation; one standard-normal ``z`` is drawn per active link and
    the network at fraction ``f`` has ``w = w_0 + f * sd_layer * z`` on its active links
    (``f = 0`` is exactly the identity; inactive links stay 0).  The noise scale is per
    layer by definition, so ``scope`` changes nothing.  Yields the number of noised links
    (0 at ``f = 0``).

    Complexity: ``O(n)`` per fraction.
    """
    _check_tensors(weights, masks)
    fractions = check_fractions(fractions)
    check_scope(scope)
    g = _generator(generator)
    index = _active(masks)
    original = [_values(w, ix).clone() for w, ix in zip(weights, index)]
    scaled = []
    for w0 in original:
        sd = float(w0.double().std(unbiased=False)) if len(w0) else 0.0
        scaled.append(torch.randn(len(w0), generator=g, dtype=torch.float64) * sd)
    for f in fractions:
        for w, ix, w0, z in zip(weights, index, original, scaled):
            _write(w, ix, w0 if f == 0 else (w0.double() + f * z))
        yield 0 if f == 0 else sum(len(ix) for ix in index)


#: Name -> perturbation, in the order of the study.
PERTURBATIONS: dict[str, Callable[..., Iterator[int]]] = {
    "random_removal": random_removal,
    "weight_order_removal": weight_order_removal,
    "reverse_weight_order_removal": reverse_weight_order_removal,
    "shuffle": shuffle,
    "noise": noise,
}


def check_perturbations(perturbations: str | Sequence[str] | None) -> list[str]:
    """Perturbation names checked against :data:`PERTURBATIONS` (``None`` or ``"all"``: all five)."""
    if perturbations is None or perturbations == "all":
        return list(PERTURBATIONS)
    if isinstance(perturbations, str):
        perturbations = [p for p in perturbations.split(",") if p.strip()]
    out = []
    for p in perturbations:
        name = str(p).strip()
        if name not in PERTURBATIONS:
            raise InputError(f"unknown perturbation {name!r}; known: {', '.join(PERTURBATIONS)}")
        if name not in out:
            out.append(name)
    if not out:
        raise InputError(f"no perturbation given; pass some of {', '.join(PERTURBATIONS)}")
    return out


# ------------------------------------------------------------------------------ models
class Perturbable:
    """The tensors of a model that a perturbation changes (see :func:`perturbable`).

    Attributes
    ----------
    names : list of str
        Parameter names of the perturbed layers (``"hidden.0.weight"``), in module order.
    weights : list of torch.Tensor
        The layers' plain weight tensors (``module.weight.data``: changing them changes the model).
    masks : list of torch.BoolTensor
        Active links (mask ``True`` and weight non-zero), changed by removals.
    zeros_as_pruned : int
        Links a mask keeps whose weight is exactly zero, treated as pruned (e.g. a checkpoint
        saved without masks: all-``True`` masks over magnitude-pruned weights).
    readout : str or None
        Name of the readout layer (the last conv/linear layer in module order).
    readout_included : bool
        Whether the readout is among ``names``.
    """

    def __init__(self, names, weights, masks, zeros_as_pruned, readout, readout_included):
        self.names = list(names)
        self.weights = list(weights)
        self.masks = list(masks)
        self.zeros_as_pruned = int(zeros_as_pruned)
        self.readout = readout
        self.readout_included = bool(readout_included)

    @property
    def num_active(self) -> int:
        """Active links now (changes as links are removed)."""
        return int(sum(int(m.sum()) for m in self.masks))

    def mask_dict(self) -> dict[str, torch.Tensor]:
        """``{param_name: mask}`` of the perturbed layers (copies)."""
        return {n: m.clone() for n, m in zip(self.names, self.masks)}


def _plain_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Make ``torch.nn.utils.prune`` masks permanent; return the masks they held."""
    from torch.nn.utils import prune as torch_prune

    held = {}
    for path, module in model.named_modules():
        if isinstance(module, prunable_types()) and hasattr(module, "weight_mask"):
            held[f"{path}.weight" if path else "weight"] = module.weight_mask.detach() != 0
            torch_prune.remove(module, "weight")
    return held


def perturbable(
    model: nn.Module,
    masks: Mapping[str, torch.Tensor] | None = None,
    *,
    include_readout: bool = False,
) -> Perturbable:
    """Prepare ``model`` (in place) for perturbations and return the tensors to perturb.

    The model's ``torch.nn.utils.prune`` buffers are made permanent (masked weights become
    plain weights holding exact zeros), so pass a copy if the original must stay intact.

    Which layers: every prunable layer (:func:`topocore.masks.prunable_layers`), and only
    its masked-in links.  The *readout* (the last ``Conv``/``Linear`` layer in module order)
    is left untouched when it is kept dense (no mask, an all-``True`` mask, or marked
    ``prunable = False`` by its model) unless ``include_readout=True``; a pruned (sparse)
    readout is a prunable layer like the others.  A link is *active* when its mask is
    ``True`` **and** its weight is not exactly zero: exact zeros count as pruned (their
    number is :attr:`Perturbable.zeros_as_pruned`), so a checkpoint without masks is
    perturbed as the sparse network its zeros describe.

    Parameters
    ----------
    masks : dict, optional
        ``{param_name: bool tensor}``; default: the model's prune buffers (dense where none).
    include_readout : bool
        Perturb a dense readout too.
    """
    from topocore.masks import validate_masks

    held = _plain_weights(model)
    layers = list(prunable_layers(model))
    everything = [(f"{p}.weight" if p else "weight", m) for p, m in model.named_modules() if isinstance(m, prunable_types())]
    readout = everything[-1][0] if everything else None
    given: dict[str, torch.Tensor] = {}
    if masks is not None:
        masks = dict(masks)
        extra = None
        if readout is not None and readout not in {n for n, _ in layers}:  # a readout its model keeps dense
            extra = masks.pop(readout, masks.pop(f"{readout}_mask", None))
        given = validate_masks(model, masks, missing="ignore", device=None)
        if extra is not None:
            extra = torch.as_tensor(extra)
            if tuple(extra.shape) != tuple(dict(everything)[readout].weight.shape) or extra.dtype != torch.bool:
                raise InputError(f"the mask given for the readout {readout!r} must be a bool tensor of its weight's shape")
            given[readout] = extra
    chosen = []
    for name, module in layers:
        mask = given.get(name, held.get(name))
        chosen.append((name, module, mask))
    if readout is not None and readout not in {n for n, _ in layers}:
        chosen.append((readout, dict(everything)[readout], None))
    names, weights, out_masks = [], [], []
    zeros = 0
    included = False
    for name, module, mask in chosen:
        w = module.weight.data
        dense = mask is None or bool(mask.all())
        if name == readout and dense and not include_readout:
            continue
        keep = torch.ones_like(w, dtype=torch.bool) if mask is None else mask.to(w.device).clone()
        nonzero = w != 0
        zeros += int((keep & ~nonzero).sum())
        names.append(name)
        weights.append(w)
        out_masks.append((keep & nonzero).contiguous())
        included = included or name == readout
    return Perturbable(names, weights, out_masks, zeros, readout, included)


def perturb(
    target: Perturbable,
    perturbation: str,
    fractions: Sequence[float],
    *,
    scope: str = "global",
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Run the named perturbation on a :class:`Perturbable` (the model changes in place).

    A generator: after each fraction it yields the count of that perturbation (see the
    module docstring), so the caller evaluates the network at every fraction of one run.
    """
    (name,) = check_perturbations([perturbation])
    return PERTURBATIONS[name](target.weights, target.masks, fractions, scope=scope, generator=generator)

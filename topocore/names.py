"""Canonical names and aliases: architectures, data sets, pruning methods and metrics.

The one table of spellings used by every package and by the command line.  A name is
matched case-insensitively with every character other than a letter or digit removed,
so ``"Wide-Resnet-28-2"``, ``"WRN_28_2"`` and ``"wrn28_2"`` are the same architecture
and ``"CIFAR_10"``, ``"cifar-10"`` and ``"Tiny ImageNet"`` are accepted everywhere.

The registries that implement the names (the model zoo ``pruners.models.MODELS``, the
pruners ``pruners.METHODS``, the data loaders ``pruners.data``, the metric registry
``topometrics.METRICS``) are checked against these tables by the test suite.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from .errors import InputError

__all__ = [
    "ARCHS",
    "PAPER_ARCHS",
    "PUBLISHED_EXTRA_ARCHS",
    "IMAGENET_ARCHS",
    "MLP_ARCHS",
    "OTHER_ARCHS",
    "DATASETS",
    "PAPER_DATASETS",
    "MNIST_DATASETS",
    "PAPER_SPARSITIES",
    "PAI_METHODS",
    "RANDOM_METHODS",
    "PAPER_METHODS",
    "DST_METHODS",
    "OTHER_METHODS",
    "KNOWN_METHODS",
    "DENSE",
    "PAPER_METRICS",
    "MACRO_METRICS",
    "METRIC_CATEGORIES",
    "METRIC_LABELS",
    "name_key",
    "canonical_arch",
    "canonical_dataset",
    "canonical_method",
    "num_classes_of",
    "input_shape_of",
    "metric_label",
]


def name_key(name: object) -> str:
    """Lower-cased ``name`` with every character other than a-z and 0-9 removed."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _alias_table(canonical: Iterable[str], extra: Mapping[str, str]) -> dict[str, str]:
    table = {name_key(c): c for c in canonical}
    table.update({name_key(k): v for k, v in extra.items()})
    return table


# --------------------------------------------------------------------------- architectures

#: The paper's four CIFAR architectures.
PAPER_ARCHS = ("conv6", "resnet20", "resnet32", "wrn28_2")
#: The CIFAR MobileNetV2 of the authors' published data (its rows are in their unrolled table).
PUBLISHED_EXTRA_ARCHS = ("mobilenet_v2",)
#: ImageNet-scale architectures of the zoo (default input (3, 224, 224), 1000 classes).
IMAGENET_ARCHS = ("resnet18", "resnet50", "mobilenet_v2_imagenet")
#: Fully connected networks (the sparse MLP of the dynamic-sparse-training literature).
MLP_ARCHS = ("mlp",)
#: Other zoo architectures: the DAG-wired network of blocks with gated edges (pruners.models.dagnet).
OTHER_ARCHS = ("dagnet",)
#: Every architecture name the toolkit knows (the zoo may hold more through registration).
ARCHS = PAPER_ARCHS + PUBLISHED_EXTRA_ARCHS + IMAGENET_ARCHS + MLP_ARCHS + OTHER_ARCHS
_ARCH_ALIASES = _alias_table(
    ARCHS,
    {
        "wide-resnet-28-2": "wrn28_2",
        "wideresnet28x2": "wrn28_2",
        "wrn-28-2": "wrn28_2",
        # "MobileNetV2" / "MobileNet-V2" / "mobilenet_v2" (one key) is the published CIFAR variant
        "MobileNet-V2": "mobilenet_v2",
        "ResNet-18": "resnet18",
        "ResNet-50": "resnet50",
        "MobileNetV2-ImageNet": "mobilenet_v2_imagenet",
        "sparse-mlp": "mlp",
    },
)

# --------------------------------------------------------------------------- data sets

#: Data sets known to the toolkit: class count and default input shape (C, H, W).
DATASETS: dict[str, dict[str, Any]] = {
    "cifar10": {"num_classes": 10, "input_shape": (3, 32, 32)},
    "cifar100": {"num_classes": 100, "input_shape": (3, 32, 32)},
    "tinyimagenet": {"num_classes": 200, "input_shape": (3, 32, 32)},
    "digits": {"num_classes": 10, "input_shape": (3, 32, 32)},
    "digits_t2": {"num_classes": 10, "input_shape": (3, 32, 32)},
    "digits_noisy": {"num_classes": 10, "input_shape": (3, 32, 32)},
    "synthetic": {"num_classes": 10, "input_shape": (3, 32, 32)},
    "mnist": {"num_classes": 10, "input_shape": (1, 28, 28)},
    "fashion_mnist": {"num_classes": 10, "input_shape": (1, 28, 28)},
    "kmnist": {"num_classes": 10, "input_shape": (1, 28, 28)},
    "emnist_letters": {"num_classes": 26, "input_shape": (1, 28, 28)},
}
#: The paper's three data sets.
PAPER_DATASETS = ("cifar10", "cifar100", "tinyimagenet")
#: The MNIST family, read from IDX files (the robustness paper's four benchmarks).
MNIST_DATASETS = ("mnist", "fashion_mnist", "kmnist", "emnist_letters")
_DATASET_ALIASES = _alias_table(
    DATASETS,
    {
        "tiny-imagenet-200": "tinyimagenet",
        "tiny imagenet": "tinyimagenet",
        "fmnist": "fashion_mnist",
        "fashionmnist": "fashion_mnist",
        "kuzushiji-mnist": "kmnist",
        "emnist-letters": "emnist_letters",
        "digits-t2": "digits_t2",
        "digits-noisy": "digits_noisy",
    },
)

# --------------------------------------------------------------------------- pruning methods

#: The paper's five sparsities.
PAPER_SPARSITIES = (0.6, 0.8, 0.9, 0.95, 0.98)
PAI_METHODS = ("snip", "grasp", "synflow", "prospr")
#: ``er`` is ER as the paper's authors ran it (whole weight shape, searched eps); RigL's
#: channel-only ER is ``er_channel`` (see ``pruners.methods.er`` / ``er_channel``).
RANDOM_METHODS = ("uniform", "er", "erk")
#: The paper's seven pruning-at-initialization methods.
PAPER_METHODS = PAI_METHODS + RANDOM_METHODS
#: Dynamic sparse training methods: those of the published data (``itop`` is RigL trained for
#: in-time over-parameterization) and those of ``pruners.dst`` (``set`` is also called ``rlr``).
DST_METHODS = ("snfs", "rigl", "itop", "dsr", "set", "ch3l3")
#: Other pruners of ``pruners.prune``.
OTHER_METHODS = ("iter_snip", "ntksap", "magnitude", "random", "er_channel")
KNOWN_METHODS = PAPER_METHODS + DST_METHODS + OTHER_METHODS
#: The no-pruning pseudo-method of dense baselines.
DENSE = "dense"
_METHOD_ALIASES = _alias_table(
    KNOWN_METHODS + (DENSE,),
    {
        "erdos-renyi": "er",
        "erdos_renyi": "er",
        "erdos-renyi-kernel": "erk",
        "erdos_renyi_kernel": "erk",
        "prospect": "prospr",
        "iterative-snip": "iter_snip",
        "ntk-sap": "ntksap",
        "rlr": "set",
        "random-link-regrowth": "set",
        "sparse-momentum": "snfs",
        "ch3-l3": "ch3l3",
        "rigl-er": "er_channel",
        "er-rigl": "er_channel",
    },
)

# --------------------------------------------------------------------------- metrics

#: The 16 topometrics of the paper's Table 2, in its order (the metric registry
#: ``topometrics.METRICS`` implements exactly these under the same names).
PAPER_METRICS = (
    "sink",
    "source",
    "disconnected",
    "r_out",
    "r_in",
    "n1",
    "n2",
    "motif4",
    "kcore",
    "strength",
    "components",
    "component_size",
    "cut_edges",
    "cut_nodes",
    "spectral_gap",
    "spectral_radius",
)
#: Macro-topology metrics of a block graph (Janik & Nowak 2021, Table 2): the registry
#: ``topometrics.dag.METRICS`` implements exactly these, in this order, apart from the 16
#: MGE topometrics (their tables prefix the MGE columns with ``mge_``).
MACRO_METRICS = (
    "log_paths",
    "mean_path",
    "max_path",
    "ln_communicability",
    "edge_connectivity",
    "mean_degree",
    "pca_elongation",
    "q1d",
)
#: Paper Table 2 category of each metric (``motif3`` is the rolled encodings' motif count).
METRIC_CATEGORIES = {
    "sink": "Local",
    "source": "Local",
    "disconnected": "Local",
    "r_out": "Local",
    "r_in": "Local",
    "n1": "Neighbor",
    "n2": "Neighbor",
    "motif4": "Neighbor",
    "motif3": "Neighbor",
    "kcore": "Strength",
    "strength": "Strength",
    "components": "Global",
    "component_size": "Global",
    "cut_edges": "Global",
    "cut_nodes": "Global",
    "spectral_gap": "Expansion",
    "spectral_radius": "Expansion",
}
#: Short plot labels.
METRIC_LABELS = {
    "sink": "sink",
    "source": "source",
    "disconnected": "disc.",
    "r_out": "r-out",
    "r_in": "r-in",
    "n1": "N1",
    "n2": "N2",
    "motif4": "motif(4)",
    "motif3": "motif(3)",
    "kcore": "k-core",
    "strength": "S",
    "components": "C",
    "component_size": "C_avg",
    "cut_edges": "cut-edges",
    "cut_nodes": "cut-nodes",
    "spectral_gap": "gap(A)",
    "spectral_radius": "rho(L)",
    "layer_density": "Layer-Density",
    "delta_r": "Delta_r",
    "delta_r_imdb": "Delta_r_imdb",
    "delta_r_bound_ratio": "Delta_r/bound",
    "delta_r_imdb_bound_ratio": "Delta_r_imdb/bound",
    "lambda_imsg": "lambda_imsg",
}


# --------------------------------------------------------------------------- lookups


def _lookup(kind: str, name: object, table: Mapping[str, str], known: Iterable[str], strict: bool, hint: str = "") -> str:
    key = name_key(name)
    if key in table:
        return table[key]
    if not strict:
        return str(name).strip().lower()
    raise InputError(f"unknown {kind} {name!r}; known {kind}s are {', '.join(sorted(known))}{hint}")


def canonical_arch(name: object, *, strict: bool = True, extra: Iterable[str] = ()) -> str:
    """``"Wide-Resnet-28-2"`` -> ``"wrn28_2"``.

    ``extra`` adds accepted names (e.g. models registered in the zoo at run time).  With
    ``strict=False`` an unknown name is returned lower-cased instead of raising
    :class:`~topocore.errors.InputError`.
    """
    extra = tuple(extra)
    table = {**_ARCH_ALIASES, **{name_key(e): e for e in extra}}
    return _lookup("architecture", name, table, ARCHS + extra, strict,
                   "; a model of your own: --model package.module:factory")


def canonical_dataset(name: object, *, strict: bool = True, extra: Iterable[str] = ()) -> str:
    """``"CIFAR_10"`` -> ``"cifar10"``, ``"Tiny ImageNet"`` -> ``"tinyimagenet"``."""
    extra = tuple(extra)
    table = {**_DATASET_ALIASES, **{name_key(e): e for e in extra}}
    return _lookup("data set", name, table, tuple(DATASETS) + extra, strict)


def canonical_method(name: object, *, strict: bool = True, extra: Iterable[str] = ()) -> str:
    """``"SynFlow"`` -> ``"synflow"``, ``"Erdos-Renyi-Kernel"`` -> ``"erk"``; ``"dense"`` is accepted.

    ``extra`` declares further method names (e.g. pruners of your own in an analysed
    table); unknown names raise :class:`~topocore.errors.InputError` listing the known ones.
    """
    extra = tuple(extra)
    table = {**_METHOD_ALIASES, **{name_key(e): str(e) for e in extra}}
    return _lookup("pruning method", name, table, KNOWN_METHODS + extra, strict,
                   ". To analyse another pruner, declare it (Python: extra_methods=[...]; CLI: --extra-methods NAME,...)")


def num_classes_of(dataset: object) -> int:
    """Number of classes of a known data set (``"CIFAR-100"`` -> 100)."""
    return int(DATASETS[canonical_dataset(dataset)]["num_classes"])


def input_shape_of(dataset: object) -> tuple[int, ...]:
    """Default input shape (C, H, W) of a known data set."""
    return tuple(DATASETS[canonical_dataset(dataset)]["input_shape"])


def metric_label(name: str) -> str:
    """Short plot label of a metric or feature column (the name itself when unregistered)."""
    return METRIC_LABELS.get(name, name)

"""pruners' registries (zoo, METHODS, data loaders) against topocore.names, the one table of names."""

from __future__ import annotations

import pytest

import pruners
import pruners.data
import pruners.grid
import pruners.models
import pruners.pipeline
from pruners import METHODS, MODELS
from pruners.data import LOADERS, dataset_info, get_dataset
from pruners.methods import canonical_method
from topocore import names
from topocore.errors import InputError


def test_zoo_matches_topocore_archs():
    assert set(MODELS) == set(names.ARCHS)
    for name in MODELS:
        assert pruners.models.canonical_name(name) == name
        assert names.canonical_arch(name) == name


def test_methods_registry_matches_topocore_methods():
    implemented = set(names.PAPER_METHODS + names.OTHER_METHODS)  # the names topocore lists for pruners
    assert set(METHODS) == implemented
    for name in METHODS:
        assert canonical_method(name) == name
        assert pruners.pipeline.canonical_method(name) == name
        assert names.canonical_method(name) == name
    assert pruners.pipeline.canonical_method("Dense") == names.DENSE == pruners.pipeline.DENSE


def test_data_loaders_match_topocore_datasets():
    assert set(LOADERS) == set(names.DATASETS) and pruners.data.DATASETS is names.DATASETS
    for name, info in names.DATASETS.items():
        assert pruners.data.canonical_dataset(name) == name
        got = dataset_info(name)
        assert got["num_classes"] == info["num_classes"] and tuple(got["input_shape"]) == tuple(info["input_shape"])


@pytest.mark.parametrize("spelling, canonical", [
    ("CIFAR_10", "cifar10"), ("Tiny ImageNet", "tinyimagenet"), ("tiny-imagenet-200", "tinyimagenet"),
    ("CIFAR-100", "cifar100"), ("Digits", "digits"),
])
def test_every_topocore_dataset_spelling_is_accepted(spelling, canonical):
    assert pruners.data.canonical_dataset(spelling) == canonical
    assert dataset_info(spelling)["num_classes"] == names.num_classes_of(canonical)


def test_cifar_10_and_tiny_imagenet_spellings_reach_the_loaders(tmp_path):
    # the data are absent: the loaders are reached (their layout message), not refused by name
    with pytest.raises(pruners.data.DataNotFoundError, match="cifar-10-batches-py"):
        get_dataset("CIFAR_10", tmp_path, "train")
    with pytest.raises(pruners.data.DataNotFoundError, match="tiny-imagenet-200"):
        get_dataset("Tiny ImageNet", tmp_path, "test")
    assert len(get_dataset("Digits", split="test", input_shape=(1, 8, 8))) == 450
    runs = pruners.grid.plan_grid(["Wide-Resnet-28-2"], ["Erdos-Renyi-Kernel"], [0.9], ["CIFAR_10", "Tiny ImageNet"], [0])
    assert [(r.arch, r.method, r.dataset) for r in runs] == [("wrn28_2", "erk", "cifar10"), ("wrn28_2", "erk", "tinyimagenet")]


def test_arch_and_method_aliases_of_topocore():
    assert pruners.canonical_name("WRN_28_2") == "wrn28_2"
    assert canonical_method("SynFlow") == "synflow" and canonical_method("iter-snip") == "iter_snip"
    assert canonical_method("NTK-SAP") == "ntksap" and canonical_method("erdos_renyi") == "er"


def test_unknown_and_unimplemented_names_are_input_errors():
    with pytest.raises(InputError, match="unknown model 'vgg16'"):
        pruners.canonical_name("vgg16")
    with pytest.raises(InputError, match="unknown pruning method 'obd'.*synflow"):
        canonical_method("obd")
    with pytest.raises(InputError, match="'rigl' is not implemented by pruners"):
        canonical_method("RigL")  # known to topocore (published data), not a pruner here
    with pytest.raises(InputError, match="pseudo-method"):
        canonical_method("dense")  # only the pipeline knows the pseudo-method
    with pytest.raises(InputError, match="unknown data set 'imagenet21k'"):
        pruners.data.canonical_dataset("imagenet21k")


def test_models_registered_at_run_time_are_accepted(monkeypatch):
    monkeypatch.setitem(MODELS, "tiny_net", MODELS["conv6"])
    assert pruners.canonical_name("tiny_net") == "tiny_net"
    assert pruners.get_model("tiny_net", 3, (1, 8, 8))(__import__("torch").randn(2, 1, 8, 8)).shape == (2, 3)

"""Bad input to encoders.encode: each a clear error or a well-defined result."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from encoders import (
    EncodingError,
    MaskError,
    MultipartiteGraph,
    UnsupportedOperationError,
    UntraceableModelError,
    encode,
)
from pruners.models import get_model


def test_wrong_input_channels():
    model = get_model("resnet20", 10, (3, 32, 32))
    with pytest.raises(EncodingError, match=r"'conv1' \(Conv2d\) expects 3 input channels but receives 1"):
        encode(model, (1, 32, 32))


def test_wrong_spatial_size_reaches_linear_with_wrong_features():
    model = get_model("conv6", 10, (3, 32, 32))
    with pytest.raises(EncodingError, match=r"'classifier.0' \(Linear\) expects 4096 input features but receives 1024"):
        encode(model, (3, 16, 16))


def test_input_smaller_than_kernel():
    model = nn.Sequential(nn.Conv2d(1, 2, 5))
    with pytest.raises(EncodingError, match="smaller than its 5x5 kernel"):
        encode(model, (1, 3, 3))


def test_input_too_small_for_pooling():
    model = get_model("conv6", 10, (3, 8, 8))
    with pytest.raises(EncodingError, match="cannot pool"):
        encode(model, (3, 1, 1))


@pytest.mark.parametrize("shape", [(), (3, 0, 32), (3, -1, 4), ("a", 3), None, (3, True, 2)])
def test_malformed_input_shape(shape):
    model = nn.Sequential(nn.Conv2d(3, 2, 1))
    with pytest.raises(EncodingError, match="input_shape must be a tuple of positive ints"):
        encode(model, shape)


def test_conv_on_flat_input():
    with pytest.raises(EncodingError, match=r"expects a \(N, C, H, W\) input"):
        encode(nn.Sequential(nn.Conv2d(3, 2, 1)), (3,))


def test_not_a_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        encode(lambda x: x, (3, 4, 4))


def test_mask_shape_mismatch():
    model = get_model("resnet20", 10, (3, 8, 8))
    with pytest.raises(MaskError, match=r"mask for 'layer1.0.conv1.weight' has shape \(16, 16, 3\) but the parameter has shape \(16, 16, 3, 3\)"):
        encode(model, (3, 8, 8), {"layer1.0.conv1.weight": torch.ones(16, 16, 3, dtype=torch.bool)})


def test_mask_for_unknown_parameter():
    model = get_model("resnet20", 10, (3, 8, 8))
    with pytest.raises(MaskError, match=r"'layer9.conv.weight', which is not a prunable parameter of CifarResNet; its prunable parameters"):
        encode(model, (3, 8, 8), {"layer9.conv.weight": torch.ones(3, dtype=torch.bool)})


def test_mask_with_weight_orig_name_gets_a_hint():
    model = get_model("resnet20", 10, (3, 8, 8))
    with pytest.raises(MaskError, match=r"'conv1.weight_orig' names the raw parameter; use the parameter name 'conv1.weight'"):
        encode(model, (3, 8, 8), {"conv1.weight_orig": torch.ones(16, 3, 3, 3, dtype=torch.bool)})


def test_mask_wrong_type():
    model = get_model("resnet20", 10, (3, 8, 8))
    with pytest.raises(MaskError, match="is a list"):
        encode(model, (3, 8, 8), {"conv1.weight": [1, 0]})
    with pytest.raises(MaskError, match="must be a dict"):
        encode(model, (3, 8, 8), [torch.ones(1)])
    with pytest.raises(MaskError, match="holds the value nan"):
        encode(model, (3, 8, 8), {"conv1.weight": torch.full((16, 3, 3, 3), float("nan"))})


def test_fully_pruned_network_has_no_edges(tmp_path):
    model = get_model("resnet20", 10, (3, 8, 8))
    masks = {n: torch.zeros_like(p, dtype=torch.bool) for n, p in model.named_parameters() if p.dim() > 1}
    g = encode(model, (3, 8, 8), masks, identity_shortcuts=False)
    assert g.num_edges == 0 and g.num_nodes > 0
    assert len(g.partitions) == 21 and len(g.layers) == 22
    g.validate()
    assert MultipartiteGraph.load(g.save(tmp_path / "empty")) == g
    assert g.to_scipy().nnz == 0
    # with identity shortcuts only the shortcut edges remain
    g1 = encode(model, (3, 8, 8), masks)
    assert g1.num_edges > 0 and {g1.layers[i].kind for i in np.unique(g1.edge_layer)} == {"identity"}


def test_all_zero_weights_without_masks_is_fully_pruned():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(3 * 2 * 2, 4))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    g = encode(model, (2, 4, 4))
    assert g.num_edges == 0 and g.meta["mask_sources"] == {"zeros": 2}


class Gate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        self.attn = Attn()

    def forward(self, x):
        return self.attn(self.conv(x))


class Attn(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


def test_unsupported_operation_names_op_and_module():
    with pytest.raises(UnsupportedOperationError, match=r"_operator\.mul .*fx node 'mul'.*in module 'attn'.*mul of two activations"):
        encode(Gate(), (2, 4, 4))


def test_unsupported_leaf_module_names_type_and_path():
    model = nn.Sequential(nn.Conv1d(2, 2, 1))
    with pytest.raises(UnsupportedOperationError, match=r"torch.nn.modules.conv.Conv1d.*module '0'"):
        encode(model, (2, 5))


def test_unsupported_softmax_function():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return F.softmax(self.fc(x), dim=1)

    with pytest.raises(UnsupportedOperationError, match=r"torch.nn.functional.softmax"):
        encode(M(), (3,))


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = DataDependent()

    def forward(self, x):
        return self.block(x)


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)

    def forward(self, x):
        if x.sum() > 0:
            return self.conv(x)
        return x


def test_untraceable_model_names_module():
    with pytest.raises(UntraceableModelError, match=r"could not trace Branchy \(in module 'block'\)"):
        encode(Branchy(), (2, 4, 4))


def test_several_inputs():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x, y):
            return self.fc(x) + y

    with pytest.raises(EncodingError, match="takes several inputs"):
        encode(Two(), (2,))


def test_optional_second_input_uses_default():
    class Opt(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x, scale: float = 2.0):
            return self.fc(x) * scale

    g = encode(Opt(), (2,))
    assert g.num_edges == 4


def test_broadcasting_add_of_activations_is_unsupported():
    class B(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(2, 2, 1)
            self.b = nn.Conv2d(2, 2, 4)

        def forward(self, x):
            return self.a(x) + self.b(x)

    with pytest.raises(UnsupportedOperationError, match="different shapes"):
        encode(B(), (2, 4, 4))


def test_errors_belong_to_the_topocore_hierarchy():
    import topocore.errors as te
    from encoders import GraphTooLargeError

    assert issubclass(EncodingError, te.InputError)
    assert issubclass(UnsupportedOperationError, te.UnsupportedLayerError)
    assert issubclass(UnsupportedOperationError, EncodingError)
    assert issubclass(UntraceableModelError, EncodingError)
    assert MaskError is te.MaskError
    assert issubclass(GraphTooLargeError, te.ResourceLimitError)
    # raised errors are caught by the base classes a caller (or the CLI) uses
    with pytest.raises(te.UnsupportedLayerError):
        encode(Gate(), (2, 4, 4))
    with pytest.raises(te.InputError):
        encode(nn.Sequential(nn.Conv2d(3, 2, 1)), (1, 4, 4))
    with pytest.raises(te.MaskError):
        encode(nn.Sequential(nn.Conv2d(3, 2, 1)), (3, 4, 4), {"0.weight": torch.ones(1)})


def test_loading_a_foreign_file_is_an_input_error(tmp_path):
    import topocore.errors as te

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a graph")
    with pytest.raises(te.InputError, match="not a graph saved by MultipartiteGraph.save"):
        MultipartiteGraph.load(bad)
    with pytest.raises(te.DataNotFoundError, match="no graph file"):
        MultipartiteGraph.load(tmp_path / "missing.npz")

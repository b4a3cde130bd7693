"""`topometrics encode`: zoo models with random masks, checkpoints, state dicts, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.utils.prune as prune

from encoders import MultipartiteGraph, encode
import pruners
from pruners.models import get_model
from topometrics.cli import main


def test_encode_zoo_model_prints_summary_and_saves(tmp_path, capsys):
    out = tmp_path / "g.npz"
    rc = main(["encode", "--arch", "resnet20", "--sparsity", "0.9", "--input-shape", "3,8,8", "--seed", "3", "-o", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "MultipartiteGraph:" in text and "layer3.2.conv2" in text
    assert "edges:" in text and "encoding time:" in text and f"saved graph to {out}" in text
    g = MultipartiteGraph.load(out)
    torch.manual_seed(3)
    model = get_model("resnet20", 10, (3, 8, 8))
    want = encode(model, (3, 8, 8), pruners.prune(model, "uniform", 0.9, random_state=3))
    assert g == want
    assert f"edges: {want.num_edges:,}" in text
    assert g.meta["arch"] == "resnet20" and g.meta["sparsity"] == 0.9


def test_encode_defaults_quiet(capsys):
    assert main(["encode", "-q", "--input-shape", "3,8,8", "--arch", "conv6", "--no-identity-shortcuts"]) == 0
    text = capsys.readouterr().out
    assert "conv6 with uniform random masks at sparsity 0.9" in text and "partitions:" in text
    assert "MultipartiteGraph:" not in text


def test_encode_pruners_checkpoint(tmp_path, capsys):
    from pruners import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = get_model("resnet20", 10, (3, 8, 8), shortcut="A")
    masks = pruners.prune(model, "uniform", 0.8, random_state=0)
    path = save_checkpoint(tmp_path / "c.pt", model, masks,
                           {"arch": "resnet20", "num_classes": 10, "input_shape": [3, 8, 8], "model_kwargs": {"shortcut": "A"}})
    out = tmp_path / "g.npz"
    assert main(["encode", str(path), "-o", str(out), "-q"]) == 0
    assert "checkpoint" in capsys.readouterr().out
    ckpt = load_checkpoint(path)
    assert MultipartiteGraph.load(out) == encode(ckpt.model, (3, 8, 8), ckpt.masks)
    assert MultipartiteGraph.load(out) == encode(model, (3, 8, 8), masks)


def test_encode_state_dict_with_prune_buffers(tmp_path, capsys):
    torch.manual_seed(0)
    model = get_model("conv6", 10, (3, 8, 8))
    masks = pruners.prune(model, "uniform", 0.7, random_state=1)
    want = encode(model, (3, 8, 8), masks)
    for name, mask in masks.items():
        prune.custom_from_mask(model.get_submodule(name.rpartition(".")[0]), "weight", mask)
    path = tmp_path / "sd.pt"
    torch.save(model.state_dict(), path)
    out = tmp_path / "g.npz"
    assert main(["encode", str(path), "--arch", "conv6", "--input-shape", "3,8,8", "-q", "-o", str(out)]) == 0
    assert MultipartiteGraph.load(out) == want
    # without --arch the state dict cannot be turned into a model
    assert main(["encode", str(path)]) == 2
    assert "pass --arch" in capsys.readouterr().err


def test_encode_state_dict_with_masks_entry(tmp_path):
    torch.manual_seed(0)
    model = get_model("resnet20", 10, (3, 8, 8))
    masks = pruners.prune(model, "uniform", 0.5, random_state=2)
    path = tmp_path / "sd.pt"
    torch.save({"state_dict": model.state_dict(), "masks": masks}, path)
    out = tmp_path / "g.npz"
    assert main(["encode", str(path), "--arch", "resnet20", "--input-shape", "3,8,8", "-q", "-o", str(out)]) == 0
    assert MultipartiteGraph.load(out) == encode(model, (3, 8, 8), masks)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--arch", "resnet99"], "unknown model 'resnet99'"),
        (["--sparsity", "1.5"], "--sparsity must be in [0, 1)"),
        (["missing-file.pt"], "does not exist"),
        (["--arch", "conv6", "--input-shape", "3,8,8", "--num-classes", "0"], "num_classes must be >= 1"),
    ],
)
def test_encode_cli_errors(argv, message, capsys):
    assert main(["encode", *argv]) == 2
    assert message in capsys.readouterr().err


def test_encode_cli_garbage_and_wrong_arch(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    assert main(["encode", str(junk), "--arch", "resnet20"]) == 2
    assert "neither a pruners checkpoint" in capsys.readouterr().err
    sd = tmp_path / "sd.pt"
    torch.save(get_model("resnet20", 10, (3, 8, 8)).state_dict(), sd)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(sd.read_bytes()[: sd.stat().st_size // 2])  # a zip header, but cut off
    assert main(["encode", str(truncated), "--arch", "resnet20"]) == 2
    assert "is corrupt" in capsys.readouterr().err
    torch.save(get_model("resnet20", 10, (3, 8, 8)).state_dict(), sd)
    assert main(["encode", str(sd), "--arch", "conv6"]) == 2
    assert "does not fit --arch conv6" in capsys.readouterr().err
    assert main(["encode", str(sd), "--arch", "resnet20", "--sparsity", "0.5"]) == 2
    assert "brings its own masks" in capsys.readouterr().err


def test_encode_published_conventions_adds_padding_nodes(tmp_path):
    out = tmp_path / "g.npz"
    assert main(["encode", "-q", "--arch", "conv6", "--input-shape", "3,8,8", "--conventions", "published", "-o", str(out)]) == 0
    g = MultipartiteGraph.load(out)
    torch.manual_seed(0)
    model = get_model("conv6", 10, (3, 8, 8))
    want = encode(model, (3, 8, 8), pruners.prune(model, "uniform", 0.9, random_state=0), pad_nodes=True)
    assert g == want and g.partitions[0].shape == (3, 10, 10) and g.meta["pad_nodes"] is True

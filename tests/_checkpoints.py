"""A small pruned checkpoint shared by the command-line tests (importable: tests/ is on the path)."""

from __future__ import annotations

from pathlib import Path


def small_checkpoint(folder: Path, name: str = "good.pt"):
    """Save a ResNet-20 (3x8x8 inputs, uniform masks at 0.9, seed 0, data set digits) as ``folder/name``.

    Returns ``(path, model, masks, meta)`` so a test can derive broken variants from the same network.
    """
    import pruners
    from pruners.pipeline import prune_model

    model, masks, meta = prune_model("resnet20", "uniform", 0.9, num_classes=10, input_shape=(3, 8, 8), random_state=0)
    meta["dataset"] = "digits"
    path = pruners.save_checkpoint(Path(folder) / name, model, masks, meta)
    return path, model, masks, meta

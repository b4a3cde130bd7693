"""Names and constants of the rank job (strategies, table keys, class counts)."""

from __future__ import annotations

from topocore.names import PAPER_DATASETS, num_classes_of

__all__ = ["NUM_CLASSES", "BASELINES", "STRATEGIES", "STRATEGY_LABELS", "KEY", "DIGITS_LABEL", "TRUTHS"]

#: Class count of each data set the paper uses (the target networks are built with it).
NUM_CLASSES = {d: num_classes_of(d) for d in PAPER_DATASETS}
#: Baseline ranking strategies: per-network means over layers of the rolled encoding, higher ranks higher.
BASELINES = ("layer_density", "delta_r", "delta_r_imdb", "lambda_imsg")
#: All strategies, the topometric mixture first.
STRATEGIES = ("mixture",) + BASELINES
#: The true rankings a strategy is compared with: measured accuracies of the ranked checkpoints, else published ones.
TRUTHS = ("measured", "published")
#: Display names of the strategies and truths.
STRATEGY_LABELS = {
    "published": "published",
    "measured": "measured",
    "mixture": "topometric mixture",
    "layer_density": "layer density",
    "delta_r": "delta_r",
    "delta_r_imdb": "delta_r_imdb",
    "lambda_imsg": "lambda_imsg",
}
#: Columns identifying one network of the job.
KEY = ("arch", "dataset", "method", "sparsity", "seed", "scoring")
#: ``scoring`` label of networks whose data-dependent methods scored on the built-in digits batch.
DIGITS_LABEL = "digits"

"""The main job: rank pruning-at-initialization methods for a model and sparsity before training them.

"Which pruning method should I use for this model at this sparsity, before I spend GPU
days training them all?"  :class:`RankJob` answers it with the paper's topometric
mixture (Cunegatti et al., TMLR 2024, Section 4.3):

1. **Networks.**  For the target data set (its class count) and for every reference
   data set, every method and every sparsity: build the model (seeded), prune it
   at initialization (data-dependent methods score on the *scoring data*: the real
   target data set when a data root is given, else a built-in batch of
   scikit-learn's digits upsampled to the model's input shape), and measure it
   with the workflows' one measuring path
   (:func:`topometrics.workflows.measure.measure_network`: the MGE's 16 raw
   topometrics, size-normalised later with :func:`topometrics.normalize`, and the
   rolled-encoding baselines: mean layer density, ``delta_r``, ``delta_r_imdb``,
   ``lambda_imsg``, means over layers).
2. **Importance.**  The reference networks are paired with the paper's published
   accuracies (``pai_accuracy.csv``, ``dense_accuracy.csv``, shipped as package
   data) and the Architecture-Fixed and Sparsity-Fixed importance vectors are
   estimated from them (:func:`analysis.ranking.estimate_importance`).  Nothing
   about the target data set's accuracies is used.
3. **Ranking.**  Each sparsity's target networks are ranked by the mixture
   coefficient (ascending) and by the four baselines (higher first).
4. **Check.**  When the paper published accuracies for the target triplet (or the
   ranked checkpoints all carry a measured accuracy), each ranking is compared with
   the true one by Rank-Biased Overlap (extrapolated, averaged over p in
   {0.25, 0.5, 0.75}).

The reference groups hold one architecture only, so a Sparsity-Fixed group has
``len(methods) * len(references)`` networks, fewer than the 16 features plus 2 that
the adjusted R^2 needs; the importances (correlations with out-of-fold predictions)
are still defined and are what the ranking uses (``allow_small_groups``).

Everything is resumable: finished networks are kept in ``networks.csv`` in the
output folder (rewritten atomically after each network) and skipped on the next run.

Modules: :mod:`~.job` (:class:`RankJob`: configuration and orchestration),
:mod:`~.networks` (pruning, measuring, the resumable table, thread handling),
:mod:`~.published` (the paper's accuracies), :mod:`~.result` (:class:`RankResult`)
and :mod:`~.render` (text, Markdown, figure, output files), :mod:`~.config`
(strategies and keys).
"""

from __future__ import annotations

from .config import BASELINES, KEY, NUM_CLASSES, STRATEGIES, STRATEGY_LABELS
from .job import RankJob
from .networks import networks_from_checkpoints, normalized_features
from .published import published_ranking
from .render import ranking_figure
from .result import RankResult

__all__ = [
    "RankJob",
    "RankResult",
    "NUM_CLASSES",
    "BASELINES",
    "STRATEGIES",
    "STRATEGY_LABELS",
    "KEY",
    "networks_from_checkpoints",
    "normalized_features",
    "published_ranking",
    "ranking_figure",
]

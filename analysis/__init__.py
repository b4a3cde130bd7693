"""Accuracy-drop regression, feature importance and ranking of pruning algorithms from topometric tables.

Submodules (import them directly; nothing heavy is imported here):

* :mod:`analysis.data` - results-table validation and loaders of the paper's published data;
* :mod:`analysis.estimators` - the eight regressors, fast and exact for small dense problems;
* :mod:`analysis.regression` - repeated K-fold CV in the Sparsity-Fixed / Architecture-Fixed scenarios;
* :mod:`analysis.importance` - Pearson-r feature importance;
* :mod:`analysis.ranking` - topometric-mixture rankings and Rank-Biased Overlap;
* :mod:`analysis.ramanujan` - Ramanujan metrics versus layer density;
* :mod:`analysis.figures`, :mod:`analysis.report` - figures and tables;
* :mod:`analysis.pipeline` - ``reproduce`` and ``analyze`` end to end.
"""

__all__ = ["data", "estimators", "regression", "importance", "ranking", "ramanujan", "figures", "report", "pipeline", "names"]

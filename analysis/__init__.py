"""Accuracy-drop regression, feature importance and ranking of pruning algorithms from topometric tables.

The analysis layer: it depends on :mod:`topocore` only (never on ``encoders``,
``topometrics`` or ``pruners``; the ``rank`` workflow that joins them lives in the
application layer, :mod:`topometrics.workflows.rank`) and takes feature columns as given.  Raw topometrics
are normalised by the caller first, e.g.
``table[f] = topometrics.normalize(table[f], table["num_nodes"], table["num_edges"])``
(``topometrics analyze`` does that).

Submodules (import them directly; nothing heavy is imported here):

* :mod:`analysis.schema` - the results-table schema: validation, accuracy drop, per-layer aggregation;
* :mod:`analysis.published` - loaders of the paper's published data and accuracy tables;
* :mod:`analysis.data` - both of the above under one name (compatibility);
* :mod:`analysis.names` - canonical names (from :mod:`topocore.names`) and the published column maps;
* :mod:`analysis.estimators` - the eight regressors as scikit-learn estimators, fast ones for the CV loop;
* :mod:`analysis.correlation` - Pearson correlation;
* :mod:`analysis.regression` - repeated K-fold CV in the Sparsity-Fixed / Architecture-Fixed scenarios;
* :mod:`analysis.importance` - Pearson-r feature importance;
* :mod:`analysis.ranking` - topometric-mixture rankings and Rank-Biased Overlap;
* :mod:`analysis.ramanujan` - Ramanujan metrics versus layer density;
* :mod:`analysis.figures`, :mod:`analysis.report` - figures and tables;
* :mod:`analysis.pipeline` - ``reproduce`` and ``analyze`` end to end;
* :mod:`analysis.robustness` - robustness curves -> AUC, f50, their mean ± sd, figures (the sweep
  itself is :func:`topometrics.workflows.robustness.sweep`, in the application layer).
"""

__all__ = [
    "schema", "published", "data", "estimators", "regression", "importance", "correlation", "ranking", "ramanujan",
    "figures", "report", "pipeline", "names", "robustness",
]

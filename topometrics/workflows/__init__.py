"""Workflows: the application layer's multi-package jobs, importing every package.

Code here joins :mod:`pruners` (models, masks, training), :mod:`encoders` (graphs) and the
:mod:`topometrics` metric modules, which may not import each other:

* :mod:`topometrics.workflows.trajectory` -- topometrics of the recorded states of a
  dynamic-sparse-training run (``pruners.dst.DynamicSparsity.topology`` delegates here)
  and their plot against the epoch.
"""

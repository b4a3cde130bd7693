"""Workflows of the application layer: multi-step jobs that combine every package.

A workflow may import :mod:`pruners`, :mod:`encoders`, :mod:`topometrics` and
:mod:`analysis`; the command line (:mod:`topometrics.cli`) calls it and only parses
arguments and prints.  Nothing outside the application layer imports this package.

* :mod:`topometrics.workflows.dag_train` -- train a ``dagnet`` with a connectivity
  penalty, derive its block graph, retrain it from scratch, measure it
  (``topometrics dag train``);
* :mod:`topometrics.workflows.dag_measure` -- measure derived ``dagnet`` checkpoints
  into one table (``topometrics dag measure``);
* :mod:`topometrics.workflows.dag_report` -- GraphML, drawing, report and the Table-2
  style summary of those runs.
"""

"""Shared primitives of the topometrics toolkit, importable from every layer.

This package depends on numpy, torch, numba, pandas and filelock only; it never imports
:mod:`encoders`, :mod:`topometrics`, :mod:`pruners` or :mod:`analysis` (an import-linter
contract enforces it).  Each module holds one kind of primitive:

* :mod:`topocore.errors` -- the exception hierarchy (:class:`~topocore.errors.TopometricsError`
  and its subclasses); the command line prints these as one line and exits with status 2;
* :mod:`topocore.names` -- canonical spellings and aliases of architectures, data sets,
  pruning methods and the paper's 16 metrics, class counts and input shapes;
* :mod:`topocore.masks` -- the one mask validator (``{param_name: bool tensor}`` dicts and
  ``torch.nn.utils.prune`` buffers); random masks come from ``pruners`` (its ``uniform`` method);
* :mod:`topocore.io` -- atomic file writes and the output lock;
* :mod:`topocore.parallel` -- numba threading layer, ``n_jobs`` (processes) and
  ``n_threads`` (kernel threads);
* :mod:`topocore.random` -- ``random_state`` handling (numpy generators, seeded torch RNG);
* :mod:`topocore.tables` -- :func:`~topocore.tables.aggregate_layers`, per-layer to per-network values.
"""

__all__ = ["errors", "names", "masks", "io", "parallel", "random", "tables"]

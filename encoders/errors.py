"""Exceptions raised by the encoders, part of the toolkit's hierarchy (:mod:`topocore.errors`).

Every class here is a :class:`topocore.errors.TopometricsError` (hence a
:class:`ValueError`): an input the user can fix, reported by the command line as one
line naming the problem and the fix.

==============================  ==========================================================
class                           raised for
==============================  ==========================================================
``EncodingError``               arguments that do not fit the model (``input_shape``, ...);
                                an :class:`~topocore.errors.InputError`
``UnsupportedOperationError``   a traced operation without an encoding rule; an
                                ``EncodingError`` and a
                                :class:`~topocore.errors.UnsupportedLayerError`
``UntraceableModelError``       ``torch.fx`` cannot trace the model; an ``EncodingError``
``MaskError``                   a mask that does not fit the model; the same class as
                                :class:`topocore.errors.MaskError`
==============================  ==========================================================

:class:`~encoders.graph.GraphTooLargeError` (a
:class:`~topocore.errors.ResourceLimitError`) lives with the graph container.
"""

from __future__ import annotations

from topocore.errors import InputError, MaskError, UnsupportedLayerError

__all__ = ["EncodingError", "UnsupportedOperationError", "UntraceableModelError", "MaskError"]


class EncodingError(InputError):
    """The model cannot be encoded with the given arguments (e.g. wrong ``input_shape``)."""


class UnsupportedOperationError(UnsupportedLayerError, EncodingError):
    """The traced dataflow contains an operation the encoder has no rule for.

    The message names the operation, the fx node and the module path it was called
    from.
    """


class UntraceableModelError(EncodingError):
    """``torch.fx`` symbolic tracing of the model failed (data-dependent control flow, ...)."""

"""Exceptions raised by the encoders.

All derive from :class:`ValueError` so that callers validating user input can catch
one type; the subclasses say which part of the input is at fault.
"""

from __future__ import annotations

__all__ = ["EncodingError", "UnsupportedOperationError", "UntraceableModelError", "MaskError"]


class EncodingError(ValueError):
    """The model cannot be encoded with the given arguments (e.g. wrong ``input_shape``)."""


class UnsupportedOperationError(EncodingError):
    """The traced dataflow contains an operation the encoder has no rule for.

    The message names the operation, the fx node and the module path it was called
    from.
    """


class UntraceableModelError(EncodingError):
    """``torch.fx`` symbolic tracing of the model failed (data-dependent control flow, ...)."""


class MaskError(ValueError):
    """A mask does not fit the model: unknown parameter name, wrong shape or dtype."""

"""The toolkit's exception hierarchy.

Every error that a user can fix by changing an input (an argument, a file, a mask, a
missing data set) derives from :class:`TopometricsError`, itself a :class:`ValueError`
so that code validating input can catch one type.  The command line prints a
:class:`TopometricsError` as one line naming the problem and the fix and exits with
status 2; any other exception is a bug of the toolkit and keeps its traceback (exit
status 1; ``--debug`` shows tracebacks for every error).

==========================  ===============================================================
class                       raised for
==========================  ===============================================================
``TopometricsError``        base class: any input the user can fix
``InputError``              a bad argument value, option combination or table
``MaskError``               a mask that does not fit its model (key, shape, values)
``CheckpointError``         a file that is not a readable checkpoint of this toolkit
``DataNotFoundError``       a data set or reference file missing under the given path
``DataMismatchError``       two input files that must describe the same rows do not
``UnsupportedLayerError``   a layer or traced operation the encoder has no rule for
``ResourceLimitError``      work that would exceed a stated memory or size limit
``OutputLockedError``       another process is writing the same output
==========================  ===============================================================
"""

from __future__ import annotations

__all__ = [
    "TopometricsError",
    "InputError",
    "MaskError",
    "CheckpointError",
    "DataNotFoundError",
    "DataMismatchError",
    "UnsupportedLayerError",
    "ResourceLimitError",
    "OutputLockedError",
    "brief",
]


class TopometricsError(ValueError):
    """An error the user can fix; the message names the problem and the fix."""


class InputError(TopometricsError):
    """A bad argument value, option combination or input table."""


class MaskError(InputError):
    """A mask does not fit the model: unknown parameter name, wrong shape or non-binary values."""


class CheckpointError(TopometricsError):
    """A file is not a readable checkpoint (corrupt, truncated, foreign or inconsistent)."""


class DataNotFoundError(TopometricsError, FileNotFoundError):
    """A data set or reference file is missing; the message describes the expected layout."""


class DataMismatchError(TopometricsError):
    """Two input files that must describe the same rows do not."""


class UnsupportedLayerError(TopometricsError):
    """The model contains a layer or operation that the encoder has no rule for."""


class ResourceLimitError(TopometricsError):
    """The requested work would exceed a memory or size limit; the message gives the estimate."""


class OutputLockedError(TopometricsError):
    """Another process holds the lock of the same output; the message names the lock file."""


def brief(text: object, limit: int = 200) -> str:
    """The first sentence of ``text`` (an exception or a string) on one line, at most ``limit`` characters.

    For quoting a third-party message inside a one-line error: a longer sentence is
    cut at a word boundary and ends with ``...`` (never mid-word); empty text gives
    ``"no details"``.
    """
    import re

    flat = " ".join(str(text).split())
    if not flat:
        return "no details"
    m = re.search(r"(?<=[.!?])\s+(?=[A-Z])", flat)
    sentence = flat[: m.start()] if m else flat
    if len(sentence) <= limit:
        return sentence
    cut = sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + " ..."

"""Pruning at initialization, layer-wise random pruning, the CIFAR model zoo, data and sparse training.

This package depends on torch only; it never imports :mod:`encoders`,
:mod:`topometrics` or :mod:`analysis`.
"""

from .models import MODELS, canonical_name, get_model

__all__ = ["MODELS", "canonical_name", "get_model"]

"""Accuracy-drop regression, feature importance and ranking of pruning algorithms from topometric tables."""

__all__: list[str] = []

"""Topological metrics of multipartite graph encodings of sparse neural networks."""

__version__ = "0.1.0"

__all__ = ["__version__"]

"""``pruners.dst.ch3l3_scores`` against a brute-force enumeration of length-3 paths over networkx."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pruners.dst import ch3l3_scores
from topocore.errors import InputError, MaskError


def brute_force(mask: np.ndarray) -> np.ndarray:
    """CH3-L3 by the definition, one pair at a time, on a networkx graph (independent oracle)."""
    n_out, n_in = mask.shape
    g = nx.Graph()
    g.add_nodes_from(("i", i) for i in range(n_in))
    g.add_nodes_from(("o", o) for o in range(n_out))
    g.add_edges_from((("i", i), ("o", o)) for o, i in zip(*np.nonzero(mask)))
    scores = np.zeros(mask.shape)
    for v in range(n_out):
        for u in range(n_in):
            src, dst = ("i", u), ("o", v)
            paths = [p for p in nx.all_simple_paths(g, src, dst, cutoff=3) if len(p) == 4]
            community = {p[1] for p in paths} | {p[2] for p in paths}

            def external(z):
                return sum(1 for n in g.neighbors(z) if n not in community and n not in (src, dst))

            scores[v, u] = sum(1.0 / math.sqrt((1 + external(p[1])) * (1 + external(p[2]))) for p in paths)
    return scores


@st.composite
def masks(draw):
    n_out = draw(st.integers(1, 7))
    n_in = draw(st.integers(1, 7))
    density = draw(st.floats(0.0, 1.0))
    seed = draw(st.integers(0, 2**31 - 1))
    return np.random.default_rng(seed).random((n_out, n_in)) < density


@settings(max_examples=150, deadline=None)
@given(masks())
def test_matches_brute_force_on_random_bipartite_graphs(mask):
    got = ch3l3_scores(torch.from_numpy(mask))
    assert got.dtype == torch.float64 and tuple(got.shape) == mask.shape
    np.testing.assert_allclose(got.numpy(), brute_force(mask), rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(masks(), st.integers(1, 5))
def test_chunking_does_not_change_scores(mask, chunks):
    np.testing.assert_array_equal(ch3l3_scores(mask, n_chunks=chunks).numpy(), ch3l3_scores(mask, n_chunks=1).numpy())


def test_hand_computed_example():
    # inputs 0,1,2; outputs 0,1.  Edges: i0-o0, i1-o0, i1-o1, i2-o1.  Candidate (u=0, v=1):
    # one path 0 - o0 - i1 - o1; community {o0, i1}; de(o0) = deg 2 - u - i1 = 0; de(i1) = 2 - o1(v) - o0 = 0.
    mask = np.array([[1, 1, 0], [0, 1, 1]], dtype=bool)
    s = ch3l3_scores(mask).numpy()
    assert s[1, 0] == pytest.approx(1.0)
    # (u=2, v=0): path 2 - o1 - i1 - o0, symmetric: 1.
    assert s[0, 2] == pytest.approx(1.0)
    # an active position has no simple length-3 path here
    assert s[0, 0] == 0.0 and s[1, 1] == 0.0


def test_conv_mask_is_scored_on_its_reshape():
    rng = np.random.default_rng(3)
    mask = rng.random((4, 3, 2, 2)) < 0.4
    got = ch3l3_scores(torch.from_numpy(mask))
    assert tuple(got.shape) == (4, 3, 2, 2)
    np.testing.assert_allclose(got.reshape(4, 12).numpy(), brute_force(mask.reshape(4, 12)), atol=1e-12)


def test_numeric_zero_one_masks_and_empty_masks():
    mask = np.array([[1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_array_equal(ch3l3_scores(mask).numpy(), ch3l3_scores(mask.astype(bool)).numpy())
    assert float(ch3l3_scores(np.zeros((3, 4), bool)).abs().sum()) == 0.0


def test_bad_input():
    with pytest.raises(InputError, match="shape"):
        ch3l3_scores(torch.ones(5, dtype=torch.bool))
    with pytest.raises(MaskError, match="boolean"):
        ch3l3_scores(np.full((2, 2), 0.5))
    with pytest.raises(InputError, match="tensor or numpy"):
        ch3l3_scores([[True]])

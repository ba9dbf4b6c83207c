"""service.merkle_sum: roots and totals, proofs for every leaf of every size up to 40, and the
ways a proof or a total can be forged, each refused."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service import merkle_sum as ms


def leaves_of(values: list[int]) -> list[ms.SumNode]:
    return [ms.leaf(f"claim {i}".encode(), v) for i, v in enumerate(values)]


def test_a_leaf_and_a_node_are_hashed_with_their_sums() -> None:
    a, b = ms.leaf(b"a", 5), ms.leaf(b"b", 7)
    assert a.hash == hashlib.sha256(b"\x00" + (5).to_bytes(16, "big") + b"a").digest()
    top = ms.parent(a, b)
    assert top.sum == 12
    assert (
        top.hash
        == hashlib.sha256(
            b"\x01" + a.hash + (5).to_bytes(16, "big") + b.hash + (7).to_bytes(16, "big")
        ).digest()
    )
    assert ms.root([]) == ms.EMPTY and ms.root([a]) == a


@pytest.mark.parametrize("size", range(1, 41))
def test_every_leaf_proves_into_the_root_and_total(size: int) -> None:
    values = [(i * 7919) % 1000 for i in range(size)]
    leaves = leaves_of(values)
    top = ms.root(leaves)
    assert top.sum == sum(values)
    for index, node in enumerate(leaves):
        path = ms.proof(leaves, index)
        assert ms.verify(index, size, node, path, top)


@given(st.lists(st.integers(0, 10**12), min_size=2, max_size=30), st.data())
def test_forgeries_are_refused(values: list[int], data: st.DataObject) -> None:
    leaves = leaves_of(values)
    top = ms.root(leaves)
    index = data.draw(st.integers(0, len(values) - 1))
    path = ms.proof(leaves, index)
    node = leaves[index]
    # a claimant's amount changed, the total understated, a sibling's sum lowered
    assert not ms.verify(index, len(values), ms.leaf(f"claim {index}".encode(), values[index] + 1), path, top)
    assert not ms.verify(index, len(values), node, path, ms.SumNode(top.hash, top.sum - 1))
    j = data.draw(st.integers(0, len(path) - 1))
    if path[j].sum > 0:
        lowered = list(path)
        lowered[j] = ms.SumNode(path[j].hash, path[j].sum - 1)
        assert not ms.verify(index, len(values), node, lowered, top)
    assert not ms.verify(index, len(values), node, path[:-1], top)


def test_negative_or_huge_sums_cannot_be_encoded() -> None:
    with pytest.raises(ms.SumTreeError):
        ms.leaf(b"x", -1)
    with pytest.raises(ms.SumTreeError):
        ms.parent(ms.leaf(b"x", ms.MAX_SUM), ms.leaf(b"y", 1))
    with pytest.raises(ms.SumTreeError):
        ms.proof(leaves_of([1, 2]), 2)

"""service.merkle against RFC 9162's definitions, written out here as the RFC states them
(recursion over lists of leaves), for every size up to 70 and every leaf and size pair; and
against the test vector of the Certificate Transparency reference implementations."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service import merkle

# The eight leaves and roots used by the CT reference implementations' tests (sizes 1..8).
CT_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


# ---- RFC 9162 section 2.1, literally ----------------------------------------------------------


def rfc_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + rfc_mth(d[:k]) + rfc_mth(d[k:])).digest()


def rfc_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return rfc_path(m, d[:k]) + [rfc_mth(d[k:])]
    return rfc_path(m - k, d[k:]) + [rfc_mth(d[:k])]


def rfc_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [rfc_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return rfc_subproof(m, d[:k], b) + [rfc_mth(d[k:])]
    return rfc_subproof(m - k, d[k:], False) + [rfc_mth(d[:k])]


def rfc_proof(m: int, d: list[bytes]) -> list[bytes]:
    return rfc_subproof(m, d, True) if 0 < m < len(d) else []


LEAVES = [f"leaf {i}".encode() for i in range(70)]
NODES, SIZE = merkle.build(LEAVES)
SOURCE = merkle.from_mapping(NODES)


def test_ct_reference_vector() -> None:
    leaves = [bytes.fromhex(h) for h in CT_LEAVES]
    nodes, _ = merkle.build(leaves)
    source = merkle.from_mapping(nodes)
    for size, expected in enumerate(CT_ROOTS, start=1):
        assert merkle.root(source, size).hex() == expected
        assert rfc_mth(leaves[:size]).hex() == expected


def test_empty_tree() -> None:
    assert merkle.root(SOURCE, 0) == hashlib.sha256(b"").digest()
    assert merkle.Frontier(0, {}).root() == merkle.EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, SIZE + 1))
def test_roots_paths_and_proofs_equal_the_rfc(size: int) -> None:
    d = LEAVES[:size]
    expected_root = rfc_mth(d)
    assert merkle.root(SOURCE, size) == expected_root
    for index in range(size):
        path = merkle.inclusion_path(SOURCE, index, size)
        assert path == rfc_path(index, d)
        assert merkle.verify_inclusion(index, size, merkle.leaf_hash(d[index]), path, expected_root)
    for first in range(0, size + 1):
        proof = merkle.consistency_proof(SOURCE, first, size)
        assert proof == rfc_proof(first, d)
        assert merkle.verify_consistency(first, size, rfc_mth(d[:first]), expected_root, proof)


def test_frontier_root_and_nodes_match_a_full_build() -> None:
    frontier = merkle.Frontier(0, {})
    for size, data in enumerate(LEAVES, start=1):
        frontier.append(merkle.leaf_hash(data))
        assert frontier.root() == rfc_mth(LEAVES[:size])
    # Resuming from a stored frontier gives the same nodes as appending in one go.
    resumed = merkle.Frontier(37, {node: NODES[node] for node in merkle.frontier_nodes(37)})
    created = {}
    for data in LEAVES[37:]:
        created.update(resumed.append(merkle.leaf_hash(data)))
    assert created == {node: h for node, h in NODES.items() if (node[1] + 1) << node[0] > 37}


def test_needed_nodes_are_few_and_sufficient() -> None:
    needed = merkle.needed_nodes(lambda source: merkle.inclusion_path(source, 41, 69))
    assert len(needed) <= 2 * 7 * 7
    only = merkle.from_mapping({node: NODES[node] for node in needed})
    assert merkle.inclusion_path(only, 41, 69) == merkle.inclusion_path(SOURCE, 41, 69)


@given(st.integers(1, SIZE), st.data())
def test_tampered_proofs_fail(size: int, data: st.DataObject) -> None:
    d = LEAVES[:size]
    root = rfc_mth(d)
    index = data.draw(st.integers(0, size - 1))
    path = merkle.inclusion_path(SOURCE, index, size)
    leaf = merkle.leaf_hash(d[index])
    assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"other"), path, root)
    if path:
        i = data.draw(st.integers(0, len(path) - 1))
        bad = list(path)
        bad[i] = bytes(32)
        assert not merkle.verify_inclusion(index, size, leaf, bad, root)
        assert not merkle.verify_inclusion(index, size, leaf, path[:-1], root)
    assert not merkle.verify_inclusion(index, size, leaf, [*path, bytes(32)], root)
    first = data.draw(st.integers(1, size))
    proof = merkle.consistency_proof(SOURCE, first, size)
    first_root = rfc_mth(d[:first])
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[j] = bytes(32)
        assert not merkle.verify_consistency(first, size, first_root, root, bad)
    if first < size:
        assert not merkle.verify_consistency(first, size, merkle.leaf_hash(b"x"), root, proof)
        assert not merkle.verify_consistency(first, size, first_root, root, [])


def test_out_of_range_requests_are_proof_errors() -> None:
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_path(SOURCE, 5, 5)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_proof(SOURCE, 6, 5)
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_path(merkle.from_mapping({}), 0, 2)
    with pytest.raises(merkle.ProofError):
        merkle.Frontier(3, {})
    assert not merkle.verify_consistency(5, 4, bytes(32), bytes(32), [bytes(32)])

"""The storage layout of USHK's ERC-7201 namespace stays the one recorded in
contracts/storage-layout/USHK.json (tools/storage_layout.py).

An upgrade must keep every recorded member of USHKStorage, and of the structs in it, at its slot
and offset with its type. Appending members at the end is allowed: then the file is out of date,
and `make storage-layout` records the new layout (it refuses a layout that moves recorded members).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("storage_layout", ROOT / "tools" / "storage_layout.py")
storage_layout = importlib.util.module_from_spec(spec)
spec.loader.exec_module(storage_layout)

TOKEN_SOURCE = (ROOT / "contracts" / "USHK.sol").read_text()


@pytest.fixture(scope="module")
def compiled():
    return storage_layout.compile_layout()


@pytest.fixture(scope="module")
def recorded():
    layout = storage_layout.load_recorded()
    assert layout is not None, f"{storage_layout.LAYOUT_FILE} is missing: run `make storage-layout`"
    return layout


def test_storageLayout_keepsEveryRecordedMember(recorded, compiled):
    problems = storage_layout.incompatibilities(recorded, compiled)
    assert not problems, (
        "USHKStorage moves or changes members that deployed tokens hold state in; an upgrade may only "
        "append members at the end (docs/token-design.md, Upgrades):\n" + "\n".join(problems)
    )


def test_storageLayout_matchesTheRecordedFile(recorded, compiled):
    assert compiled == recorded, (
        "USHKStorage has new members at the end, which is allowed: record them with `make storage-layout` "
        "(python tools/storage_layout.py --write) and commit contracts/storage-layout/USHK.json"
    )


def test_namespaceSlot_isTheERC7201SlotOfItsId(compiled):
    assert compiled["namespace"] == "erc7201:ushk.storage.USHK"
    # the value USHK.sol's comment gives, from the ERC-7201 formula
    assert (
        storage_layout.erc7201_slot("ushk.storage.USHK")
        == compiled["slot"]
        == ("0x4180283d436740db6191cb4f8f80a25058ea4e11ccac5beb9d54e135fa610c00")
    )


def test_recordedLayout_isTheTokensDesign(recorded):
    # docs/token-design.md: the flags and the ceiling are one slot each, then the two hashes, then
    # the mappings, then the audit log anchor, then (version 2) the minters' rate limits; an
    # account, a minter and a rate limit are one slot each
    members = {m["label"]: m for m in recorded["members"]}
    assert [(m["label"], m["slot"]) for m in recorded["members"]] == [
        ("flags", 0),
        ("ceiling", 1),
        ("reportHash", 2),
        ("auditHead", 3),
        ("accounts", 4),
        ("allowances", 5),
        ("minters", 6),
        ("mintedDeposits", 7),
        ("authorizations", 8),
        ("logAnchor", 9),
        ("logRoot", 10),
        ("rateLimits", 11),  # appended in version 2 (issue 13)
    ]
    assert members["logAnchor"]["bytes"] == 32  # the audit log anchor's size and time: one slot
    assert members["flags"]["bytes"] == members["ceiling"]["bytes"] == 32
    assert members["accounts"]["value"]["bytes"] == members["minters"]["value"]["bytes"] == 32
    assert members["rateLimits"]["value"]["bytes"] == 32  # a minter's token bucket: one slot
    assert [m["label"] for m in members["accounts"]["value"]["members"]] == [
        "balance",
        "nonce",
        "frozen",
        "allowed",
    ]


def edit(old: str, new: str) -> str:
    assert TOKEN_SOURCE.count(old) == 1, old
    return TOKEN_SOURCE.replace(old, new)


# (id, USHK.sol edited, what the check reports: [] when the change keeps the recorded layout)
CHANGES = [
    pytest.param(
        edit(
            "        mapping(uint256 word => uint256 bits) mintedDeposits;\n",
            "        uint256 inserted;\n        mapping(uint256 word => uint256 bits) mintedDeposits;\n",
        ),
        ["mintedDeposits: label 'mintedDeposits' -> 'inserted'"],
        id="member-inserted-before-the-end",
    ),
    pytest.param(
        edit(
            "        bool allowlistEnabled;\n    }\n",
            "        bool allowlistEnabled;\n        uint64 extra;\n    }\n",
        ),
        ["ceiling: slot 1 -> 2", "reportHash: slot 2 -> 3", "authorizations: slot 8 -> 9"],
        id="embedded-struct-grown-past-its-slot",
    ),
    pytest.param(
        edit("        uint128 balance;\n", "        uint256 balance;\n"),
        ["accounts[key].balance: type 'uint128' -> 'uint256'", "accounts[key].nonce: slot 0 -> 1"],
        id="account-member-widened",
    ),
    pytest.param(
        edit(
            "        bytes32 reportHash;\n        bytes32 auditHead;\n",
            "        bytes32 auditHead;\n        bytes32 reportHash;\n",
        ),
        ["reportHash: label 'reportHash' -> 'auditHead'", "auditHead: label 'auditHead' -> 'reportHash'"],
        id="members-swapped",
    ),
    pytest.param(
        edit(
            "        mapping(address minter => MintRateLimit) rateLimits;\n    }\n",
            "        mapping(address minter => MintRateLimit) rateLimits;\n        uint256 appended;\n    }\n",
        ),
        [],
        id="member-appended-at-the-end",
    ),
    pytest.param(
        edit(
            "        bool allowlistEnabled;\n    }\n",
            "        bool allowlistEnabled;\n        bool spare;\n    }\n",
        ),
        [],
        id="flag-added-in-the-spare-bytes-of-its-slot",
    ),
]


@pytest.mark.parametrize("source, expected", CHANGES)
def test_layoutCheck_onAChangedToken(recorded, source, expected):
    changed = storage_layout.compile_layout(source)
    problems = storage_layout.incompatibilities(recorded, changed)
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)
    if not expected:
        assert problems == []
        assert changed != recorded  # compatible, but the file has to be brought up to date


@pytest.fixture
def layout_file(tmp_path, monkeypatch, recorded):
    target = tmp_path / "USHK.json"
    target.write_text(storage_layout.render(recorded))
    monkeypatch.setattr(storage_layout, "LAYOUT_FILE", target)
    monkeypatch.setattr(storage_layout, "ROOT", tmp_path)
    return target


def with_member(layout: dict, index: int, member: dict) -> dict:
    changed = json.loads(json.dumps(layout))
    changed["members"].insert(index, member)
    for later in changed["members"][index + 1 :]:
        later["slot"] += 1
    return changed


NEW_MEMBER = {"label": "added", "slot": 9, "offset": 0, "type": "uint256", "bytes": 32}


def test_tool_checkAsksToRecordAppendedMembers(layout_file, recorded, monkeypatch, capsys):
    appended = with_member(recorded, len(recorded["members"]), NEW_MEMBER)
    monkeypatch.setattr(storage_layout, "compile_layout", lambda: appended)
    assert storage_layout.main([]) == 1
    assert "new members at the end (allowed); `make storage-layout`" in capsys.readouterr().err
    assert storage_layout.main(["--write"]) == 0
    assert json.loads(layout_file.read_text()) == appended
    assert storage_layout.main([]) == 0


def test_tool_writeRefusesToMoveRecordedMembers(layout_file, recorded, monkeypatch, capsys):
    before = layout_file.read_text()
    inserted = with_member(recorded, 2, dict(NEW_MEMBER, slot=2))
    monkeypatch.setattr(storage_layout, "compile_layout", lambda: inserted)
    assert storage_layout.main(["--write"]) == 1
    err = capsys.readouterr().err
    assert "not written" in err and "reportHash: label 'reportHash' -> 'added'" in err
    assert layout_file.read_text() == before
    assert storage_layout.main([]) == 1
    assert storage_layout.main(["--write", "--force"]) == 0
    assert json.loads(layout_file.read_text()) == inserted


# (source, contract, what the gate of `ape run upgrade schedule` reports: [] when it may be the
# next implementation)
IMPLEMENTATIONS = [
    pytest.param("contracts/USHK.sol", "USHK", [], id="the-current-token"),
    pytest.param("contracts/test/USHKV2Example.sol", "USHKV2Example", [], id="a-token-that-inherits-it"),
    pytest.param(
        "contracts/test/USHKBadLayout.sol",
        "USHKBadLayout",
        ["state variable extra at slot 0 outside any ERC-7201 namespace"],
        id="a-state-variable-outside-the-namespace",
    ),
    pytest.param(
        "contracts/test/v1/USHKV1.sol",
        "USHKV1",
        ["rateLimits: removed (slot 11, offset 0, mapping(address => struct USHK.MintRateLimit))"],
        id="version-1-its-own-structs-without-the-rate-limits",
    ),
]


@pytest.mark.parametrize("source, contract, expected", IMPLEMENTATIONS)
def test_implementationProblems_ofAProjectContract(source, contract, expected):
    assert storage_layout.implementation_problems(source, contract) == expected


def test_implementationProblems_ofAContractWithoutTheStorage():
    (problem,) = storage_layout.implementation_problems("contracts/USHKProxy.sol", "USHKProxy")
    assert problem.startswith("USHKProxy (contracts/USHKProxy.sol) has no USHKStorage")

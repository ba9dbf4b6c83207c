"""The storage layout of USHK's ERC-7201 namespace (`USHKStorage`), against the committed one.

    python tools/storage_layout.py            check: exit 1 unless the compiled layout is the file's
    python tools/storage_layout.py --write    record the compiled layout (`make storage-layout`)

USHK keeps all its state in one struct at an ERC-7201 slot; the struct is no state variable, so
solc's storage layout of USHK itself does not show it. A helper contract with one state variable of
type `USHK.USHKStorage` at slot 0 does: its layout is the namespace's, slot numbers counted from the
namespace's slot. It is compiled here with the project's solc (tools/solc) and OpenZeppelin from
node_modules, as ape compiles the token.

contracts/storage-layout/USHK.json lists every member with its slot, offset and type, and the
members of every struct in it (embedded, or the value of a mapping). An upgrade must keep every
recorded member where it is, with its type; new members may only be appended at the end of a member
list (of USHKStorage, or of a struct where that moves nothing else). `--write` refuses anything
else; `--force` writes all the same (for a layout no deployed token uses yet).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from eth_utils import keccak

ROOT = Path(__file__).resolve().parent.parent
SOLC = ROOT / "tools" / "solc"
TOKEN = "contracts/USHK.sol"
LAYOUT_FILE = ROOT / "contracts" / "storage-layout" / "USHK.json"
REMAPPINGS = [
    "@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/",
    "@openzeppelin/contracts-upgradeable/=node_modules/@openzeppelin/contracts-upgradeable/",
]
HELPER = "USHKStorageLayout"
HELPER_SOURCE = f"""// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {{USHK}} from "{TOKEN}";

contract {HELPER} {{
    USHK.USHKStorage internal layout;
}}
"""
UPDATE_HINT = "`make storage-layout` (python tools/storage_layout.py --write) records it"


def erc7201_slot(namespace: str) -> str:
    """keccak256(abi.encode(uint256(keccak256(namespace)) - 1)) & ~bytes32(uint256(0xff))"""
    inner = int.from_bytes(keccak(text=namespace), "big") - 1
    slot = int.from_bytes(keccak(inner.to_bytes(32, "big")), "big") & ~0xFF
    return "0x" + slot.to_bytes(32, "big").hex()


def namespace_of(source: str) -> tuple[str, str]:
    """(namespace id, slot constant) as USHK.sol declares them."""
    annotation = re.search(r"@custom:storage-location erc7201:(\S+)\s*\n\s*struct USHKStorage\b", source)
    constant = re.search(r"\b_STORAGE_SLOT\s*=\s*(0x[0-9a-fA-F]{64})\s*;", source)
    if annotation is None or constant is None:
        raise SystemExit(
            f"{TOKEN}: no `@custom:storage-location erc7201:` on USHKStorage, or no _STORAGE_SLOT"
        )
    return annotation.group(1), constant.group(1).lower()


def _describe(type_id: str, types: dict) -> dict:
    t = types[type_id]
    out = {"type": t["label"], "bytes": int(t["numberOfBytes"])}
    if "members" in t:
        out["members"] = [_member(m, types) for m in t["members"]]
    if t["encoding"] == "mapping":
        out["value"] = _describe(t["value"], types)
    if "base" in t:
        out["base"] = _describe(t["base"], types)
    return out


def _member(m: dict, types: dict) -> dict:
    return {"label": m["label"], "slot": int(m["slot"]), "offset": m["offset"], **_describe(m["type"], types)}


def compile_layout(token_source: str | None = None) -> dict:
    """The layout of USHKStorage from the token's source (by default contracts/USHK.sol as it is)."""
    if token_source is None:
        token_source = (ROOT / TOKEN).read_text()
    request = {
        "language": "Solidity",
        "sources": {TOKEN: {"content": token_source}, f"{HELPER}.sol": {"content": HELPER_SOURCE}},
        "settings": {
            "remappings": REMAPPINGS,
            "evmVersion": "prague",
            "outputSelection": {f"{HELPER}.sol": {HELPER: ["storageLayout"]}},
        },
    }
    result = subprocess.run(
        [str(SOLC), "--standard-json", "--base-path", str(ROOT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    if result.returncode != 0:
        raise SystemExit(f"tools/solc failed ({result.returncode}): {result.stderr.strip()}")
    output = json.loads(result.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise SystemExit("compiling the storage layout helper failed:\n" + "\n".join(errors))
    layout = output["contracts"][f"{HELPER}.sol"][HELPER]["storageLayout"]
    (variable,) = layout["storage"]
    assert (variable["slot"], variable["offset"]) == ("0", 0), variable
    struct = _describe(variable["type"], layout["types"])
    namespace, constant = namespace_of(token_source)
    return {
        "struct": struct["type"].removeprefix("struct "),
        "namespace": f"erc7201:{namespace}",
        "slot": constant,
        "slots": struct["bytes"] // 32,
        "members": struct["members"],
    }


def _solc(request: dict) -> dict:
    result = subprocess.run(
        [str(SOLC), "--standard-json", "--base-path", str(ROOT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    if result.returncode != 0:
        raise SystemExit(f"tools/solc failed ({result.returncode}): {result.stderr.strip()}")
    return json.loads(result.stdout)


def implementation_problems(source: str, contract: str) -> list[str]:
    """Why the project contract `contract` (in `source`, a path from the project root such as
    contracts/USHK.sol) cannot be the token's next implementation as far as storage goes: its
    USHKStorage (declared in it or inherited) must keep every member the recorded layout has,
    in the same ERC-7201 namespace, and it must declare no state variable outside a namespace
    (slot 0 onwards belongs to no one in a namespaced token). [] when it may."""
    helper = f'''// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {{{contract}}} from "{source}";

contract {HELPER} {{
    {contract}.USHKStorage internal layout;
}}
'''
    request = {
        "language": "Solidity",
        "sources": {f"{HELPER}.sol": {"content": helper}},
        "settings": {
            "remappings": REMAPPINGS,
            "evmVersion": "prague",
            "outputSelection": {
                f"{HELPER}.sol": {HELPER: ["storageLayout"]},
                source: {contract: ["storageLayout"]},
                "*": {"": ["ast"]},
            },
        },
    }
    output = _solc(request)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        first = errors[0].strip().splitlines()[0]
        return [f"{contract} ({source}) has no USHKStorage the layout check can read: {first}"]
    problems = [
        f"state variable {v['label']} at slot {v['slot']} outside any ERC-7201 namespace"
        for v in output["contracts"][source][contract]["storageLayout"]["storage"]
    ]
    layout = output["contracts"][f"{HELPER}.sol"][HELPER]["storageLayout"]
    (variable,) = layout["storage"]
    struct = _describe(variable["type"], layout["types"])
    owner = struct["type"].removeprefix("struct ").split(".")[0]
    owner_source = next(
        (
            path
            for path, unit in output["sources"].items()
            for node in unit["ast"]["nodes"]
            if node.get("nodeType") == "ContractDefinition" and node.get("name") == owner
        ),
        None,
    )
    text = (ROOT / owner_source).read_text() if owner_source and (ROOT / owner_source).exists() else ""
    try:
        namespace, constant = namespace_of(text)
    except SystemExit as err:
        return [*problems, f"{owner}: {err}"]
    if owner != "USHK":
        # a contract that declares the structs itself names them after itself: compare members
        struct = json.loads(json.dumps(struct).replace(f"struct {owner}.", "struct USHK."))
    compiled = {
        "struct": struct["type"].removeprefix("struct "),
        "namespace": f"erc7201:{namespace}",
        "slot": constant,
        "slots": struct["bytes"] // 32,
        "members": struct["members"],
    }
    if erc7201_slot(namespace) != constant:
        problems.append(f"{owner}: _STORAGE_SLOT {constant} is not the ERC-7201 slot of {namespace!r}")
    recorded = load_recorded()
    if recorded is None:
        return [*problems, f"{LAYOUT_FILE.relative_to(ROOT)} is missing: {UPDATE_HINT}"]
    return problems + incompatibilities(recorded, compiled)


def _compare_type(old: dict, new: dict, path: str) -> list[str]:
    problems = []
    if "members" in old:
        problems += _compare_members(old["members"], new.get("members", []), path + ".")
    for part, suffix in (("value", "[key]"), ("base", "[i]")):
        if part in old:
            if part not in new:
                problems.append(f"{path}: is no longer a {'mapping' if part == 'value' else 'array'}")
            else:
                problems += _compare_type(old[part], new[part], path + suffix)
    return problems


def _compare_members(old_members: list[dict], new_members: list[dict], path: str) -> list[str]:
    problems = []
    for index, old in enumerate(old_members):
        name = path + old["label"]
        if index >= len(new_members):
            problems.append(f"{name}: removed (slot {old['slot']}, offset {old['offset']}, {old['type']})")
            continue
        new = new_members[index]
        changed = [
            f"{key} {old[key]!r} -> {new[key]!r}"
            for key in ("label", "slot", "offset", "type")
            if old[key] != new[key]
        ]
        if changed:
            problems.append(f"{name}: " + ", ".join(changed))
        else:
            problems += _compare_type(old, new, name)
    return problems


def incompatibilities(recorded: dict, compiled: dict) -> list[str]:
    """What `compiled` changes of `recorded` beyond appending members: each recorded member must
    keep its label, slot, offset and type, recursively into structs, mapping values and arrays."""
    problems = [
        f"{key}: {recorded[key]!r} -> {compiled[key]!r}"
        for key in ("struct", "namespace", "slot")
        if recorded[key] != compiled[key]
    ]
    return problems + _compare_members(recorded["members"], compiled["members"], "")


def load_recorded() -> dict | None:
    return json.loads(LAYOUT_FILE.read_text()) if LAYOUT_FILE.exists() else None


def render(layout: dict) -> str:
    return json.dumps(layout, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="record the compiled layout")
    parser.add_argument(
        "--force", action="store_true", help="with --write: also when it moves recorded members"
    )
    args = parser.parse_args(argv)

    compiled = compile_layout()
    namespace = compiled["namespace"].removeprefix("erc7201:")
    if erc7201_slot(namespace) != compiled["slot"]:
        print(
            f"{TOKEN}: _STORAGE_SLOT {compiled['slot']} is not the ERC-7201 slot of {namespace!r} "
            f"({erc7201_slot(namespace)})",
            file=sys.stderr,
        )
        return 1
    recorded = load_recorded()
    problems = incompatibilities(recorded, compiled) if recorded is not None else []
    relative = LAYOUT_FILE.relative_to(ROOT)
    if args.write:
        if problems and not args.force:
            print(
                f"not written: the compiled layout moves or changes members {relative} records:",
                file=sys.stderr,
            )
            print("\n".join("  " + p for p in problems), file=sys.stderr)
            print(
                "an upgrade of a deployed token must not do that; --force writes it all the same",
                file=sys.stderr,
            )
            return 1
        LAYOUT_FILE.parent.mkdir(parents=True, exist_ok=True)
        LAYOUT_FILE.write_text(render(compiled))
        print(f"wrote {relative}")
        return 0
    if recorded is None:
        print(f"{relative} is missing: {UPDATE_HINT}", file=sys.stderr)
        return 1
    if problems:
        print(
            f"the compiled layout of USHKStorage moves or changes members {relative} records:",
            file=sys.stderr,
        )
        print("\n".join("  " + p for p in problems), file=sys.stderr)
        return 1
    if recorded != compiled:
        print(f"USHKStorage has new members at the end (allowed); {UPDATE_HINT}", file=sys.stderr)
        return 1
    print(f"USHKStorage matches {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

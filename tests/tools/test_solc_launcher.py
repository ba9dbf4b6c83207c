"""tools/solc: the native-looking launcher over solcjs that py-solc-x and ape-solidity call."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import solcx

ROOT = Path(__file__).resolve().parents[2]
SOLC = ROOT / "tools" / "solc"

SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

contract Counter {
    uint256 public count;

    function increment(uint256 by) external returns (uint256) {
        count += by;
        return count;
    }
}
"""


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SOLC), *args], input=stdin, capture_output=True, text=True, cwd=cwd or ROOT, timeout=120
    )


@pytest.fixture(scope="module")
def pinned_version() -> str:
    """The solc version package.json pins, which must also be the one installed."""
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["solc"]
    installed = json.loads((ROOT / "node_modules" / "solc" / "package.json").read_text())["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), f"package.json pins solc loosely: {pinned!r}"
    assert installed == pinned, f"node_modules has solc {installed}, package.json pins {pinned}"
    return pinned


def test_version_matchesPinnedSolc(pinned_version):
    result = run("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "solc, the solidity compiler commandline interface"
    match = re.fullmatch(r"Version: (\d+\.\d+\.\d+)\+commit\.([0-9a-f]{8})\.Linux\.g\+\+", lines[1])
    assert match, lines
    assert match.group(1) == pinned_version


def test_version_commitMatchesTheWasmCompiler():
    # --version is answered without loading solcjs; --help asks the loaded compiler itself
    announced = re.search(r"Version: (\S+)\.Linux\.g\+\+", run("--version").stdout).group(1)
    result = run("--help")
    assert result.returncode == 0, result.stderr
    actual = re.search(r"solcjs (\S+) behind tools/solc", result.stdout).group(1)
    assert actual.startswith(announced + "."), (announced, actual)


def test_pySolcX_readsTheVersion(pinned_version):
    assert str(solcx.wrapper.get_solc_version(SOLC)) == pinned_version
    assert str(solcx.wrapper.get_solc_version(SOLC, with_commit_hash=True)).startswith(
        pinned_version + "+commit."
    )


def test_pySolcX_findsTheLauncherWhereApeSolidityLooks(pinned_version):
    # tools/install.sh links .tools/solcx/solc-v<version> to the launcher; SOLCX_BINARY_PATH points there
    binaries = ROOT / ".tools" / "solcx"
    assert pinned_version in [str(v) for v in solcx.get_installed_solc_versions(solcx_binary_path=binaries)]
    executable = solcx.install.get_executable(pinned_version, solcx_binary_path=binaries)
    assert executable.resolve() == SOLC.resolve()
    # called through the link, the launcher still finds solc.js beside its real path
    result = subprocess.run([str(executable), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "behind tools/solc" in result.stdout


def test_pySolcX_compileSourceGivesAbiAndBytecode():
    output = solcx.compile_source(SOURCE, output_values=["abi", "bin"], solc_binary=SOLC)
    assert list(output) == ["<stdin>:Counter"]
    contract = output["<stdin>:Counter"]
    names = sorted(item["name"] for item in contract["abi"] if item["type"] == "function")
    assert names == ["count", "increment"]
    assert re.fullmatch(r"[0-9a-f]+", contract["bin"]) and len(contract["bin"]) > 100
    # the increment(uint256) selector is in the bytecode's dispatcher
    assert "7cf5dab0" in contract["bin"]


def test_standardJson_resolvesImportsThroughBaseAndIncludePaths(tmp_path):
    base, include = tmp_path / "project", tmp_path / "libs"
    (base / "src").mkdir(parents=True)
    (include / "mathlib").mkdir(parents=True)
    (include / "mathlib" / "Twice.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.30;\n"
        "library Twice { function times(uint256 x) internal pure returns (uint256) { return 2 * x; } }\n"
    )
    (base / "src" / "Main.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.30;\n"
        'import {Twice} from "mathlib/Twice.sol";\n'
        "contract Main { function f(uint256 x) external pure returns (uint256) { return Twice.times(x); } }\n"
    )
    request = {
        "language": "Solidity",
        "sources": {"src/Main.sol": {"content": (base / "src" / "Main.sol").read_text()}},
        "settings": {"outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}},
    }

    result = run(
        "--standard-json", "--base-path", str(base), "--include-path", str(include), stdin=json.dumps(request)
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    assert errors == []
    assert set(output["sources"]) == {"src/Main.sol", "mathlib/Twice.sol"}
    main = output["contracts"]["src/Main.sol"]["Main"]
    assert [item["name"] for item in main["abi"]] == ["f"]
    assert len(main["evm"]["bytecode"]["object"]) > 100

    # without the include path the import does not resolve, and solc says so in its output
    result = run("--standard-json", "--base-path", str(base), stdin=json.dumps(request))
    assert result.returncode == 0, result.stderr
    errors = [e for e in json.loads(result.stdout).get("errors", []) if e["severity"] == "error"]
    assert errors and any("mathlib/Twice.sol" in e["message"] for e in errors), errors


def test_combinedJson_reportsCompileErrors(tmp_path):
    broken = tmp_path / "Broken.sol"
    broken.write_text("pragma solidity ^0.8.30;\ncontract Broken { function f( }\n")
    result = run("--combined-json", "abi,bin", str(broken))
    assert result.returncode == 1
    assert "ParserError" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args, code, message",
    [
        (
            ["--bin", "Counter.sol"],
            2,
            "tools/solc serves --standard-json, --combined-json, --help and --version only",
        ),
        ([], 2, "tools/solc serves --standard-json"),
        (
            ["--combined-json", "abi,nonsense", "Counter.sol"],
            1,
            "--combined-json: unsupported output 'nonsense'",
        ),
        (["--combined-json", "abi"], 1, "no input files given"),
        (["--combined-json"], 1, "option --combined-json needs a value"),
        (["--combined-json", "abi", "does/not/exist.sol"], 1, "cannot read does/not/exist.sol"),
    ],
    ids=["unsupported-flag", "no-arguments", "unknown-output", "no-files", "missing-value", "missing-file"],
)
def test_unsupportedInvocation_exitsNonZeroWithMessage(tmp_path, args, code, message):
    (tmp_path / "Counter.sol").write_text(SOURCE)
    result = run(*args, cwd=tmp_path)
    assert result.returncode == code, (result.returncode, result.stderr)
    assert message in result.stderr
    assert result.stdout == ""

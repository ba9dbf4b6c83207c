"""Writes the USHK ABI that the reserve service uses (service/chain/USHK.abi.json) from ape's build.

Run after `ape compile` whenever the contract's interface changes (`make abi`); the test suite
checks that the committed file matches the compiled contract.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build" / "__local__.json"
TARGET = ROOT / "service" / "chain" / "USHK.abi.json"


def compiled_abi() -> list:
    if not BUILD.exists():
        sys.exit(f"{BUILD} is missing: run `make compile` first")
    return json.loads(BUILD.read_text())["contractTypes"]["USHK"]["abi"]


def main() -> None:
    TARGET.write_text(json.dumps(compiled_abi(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""The mutation score of the last `mutmut run` (`make mutants`, docs/testing.md).

Reads mutmut's results (mutants/<module>.meta) for the modules of pyproject.toml's
[tool.mutmut] only_mutate, prints killed / total per module and overall with every mutant not
killed, and writes the same to bench/mutants.json. A mutant counts as killed when a test failed
on it or it timed out; skipped mutants are not counted; a mutant in a function that no selected
test runs ("no tests") counts as alive. Exits 1 under the floor (85%) or when a mutant was not
checked. Runs under .tools/mutmut-venv's Python, which has mutmut (tools/install.sh --mutmut).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import sys
import tomllib
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parent.parent
FLOOR = 85.0
KILLED = {"killed", "timeout", "caught by type check"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="how long `mutmut run` took (recorded)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "mutants.json")
    args = parser.parse_args()

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    modules = []
    alive = []
    unchecked = 0
    for path in config["only_mutate"]:
        meta = ROOT / "mutants" / f"{path}.meta"
        if not meta.exists():
            print(f"mutation score: no results for {path} ({meta} is missing); run `make mutants`")
            return 1
        exit_codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        statuses = {name: status_by_exit_code[code] for name, code in sorted(exit_codes.items())}
        counts = Counter(statuses.values())
        unchecked += counts["not checked"]
        total = len(statuses) - counts["skipped"]
        killed = sum(counts[s] for s in KILLED)
        modules.append({"module": path, "killed": killed, "total": total})
        alive += [
            {"mutant": name, "status": status}
            for name, status in statuses.items()
            if status not in KILLED and status != "skipped"
        ]

    killed = sum(m["killed"] for m in modules)
    total = sum(m["total"] for m in modules)
    score = 100.0 * killed / total if total else 0.0
    for m in modules:
        percent = 100.0 * m["killed"] / m["total"] if m["total"] else 100.0
        print(f"  {m['module']:32} {m['killed']:4} / {m['total']:4} killed ({percent:5.1f}%)")
    for mutant in alive:
        print(f"  alive: {mutant['mutant']} ({mutant['status']}; `mutmut show {mutant['mutant']}`)")
    print(f"mutation score: {killed} / {total} mutants killed, {score:.1f}% (floor {FLOOR:g}%)")

    record = {
        "date": dt.datetime.now(dt.UTC).date().isoformat(),
        "mutmut": importlib.metadata.version("mutmut"),
        "tests": config["pytest_add_cli_args_test_selection"],
        "seconds": round(args.seconds) if args.seconds is not None else None,
        "killed": killed,
        "total": total,
        "score_percent": round(score, 1),
        "floor_percent": FLOOR,
        "modules": modules,
        "alive": alive,
    }
    args.output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output.relative_to(ROOT)}")
    if unchecked:
        print(f"mutation score: {unchecked} mutants were not checked (an interrupted run?)")
        return 1
    return 0 if score >= FLOOR else 1


if __name__ == "__main__":
    sys.exit(main())

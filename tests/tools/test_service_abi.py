"""The ABI the service ships (service/chain/USHK.abi.json) is the compiled contract's."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_serviceAbi_matchesTheCompiledContract(project):
    shipped = json.loads((ROOT / "service" / "chain" / "USHK.abi.json").read_text())
    compiled = [item.model_dump(mode="json", by_alias=True) for item in project.USHK.contract_type.abi]

    def key(item):
        return json.dumps(item, sort_keys=True)

    # compare the parts the service relies on: every function, event and error with its inputs
    def signatures(abi):
        return sorted(
            (i["type"], i.get("name", ""), tuple(x["type"] for x in i.get("inputs", [])))
            for i in abi
            if i["type"] in ("function", "event", "error")
        )

    assert signatures(shipped) == signatures(compiled), "run `make abi` after changing the contract"
    assert len({key(i) for i in shipped}) == len(shipped)

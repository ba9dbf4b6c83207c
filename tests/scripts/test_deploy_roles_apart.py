"""deploy_ushk refuses a minter that is the attestor before deploying anything (the token would
refuse the second role with RolesConflict)."""

import pytest

from scripts._ushk.deploy import deploy_ushk

ADMIN = "0x" + "11" * 20
ATTESTOR = "0x" + "22" * 20


class Deployer:
    address = ADMIN

    def deploy(self, *_args):  # pragma: no cover - never reached
        raise AssertionError("deployed despite the conflict")


@pytest.mark.parametrize(("roles", "minter"), [(None, ADMIN), ({"attestor": ATTESTOR}, ATTESTOR)])
def test_deployUshk_refusesAMinterThatIsTheAttestor(roles, minter):
    with pytest.raises(ValueError, match="must not be the attestor"):
        deploy_ushk(Deployer(), roles=roles, minter=minter)

"""Shared helpers of the USHK ape scripts: a package, not a script (ape runs no module or folder
of scripts/ whose name starts with `_`). One concern a module:

- amounts: US dollar amounts, by the reserve service's rule (service.money), and token units
- ids: deposit ids: the service's sequence numbers (service.deposits.ids) or a bytes32
- values: addresses and bytes32 values
- roles: role names and ids; who holds which role
- cli: click parameter types (a clear `click.BadParameter`), --json and --account, and the
  command class that connects to the network
- network: the connected network and the signing account
- deployments: the deployment records, deployments/<network>.json
- contracts: the project's contracts, the token at its proxy, the implementation slot
- transactions: `transact`, a revert as a one-line error naming the token's custom error
- timelock: the upgrade timelock, its roles and recorded operations, and the checks an
  implementation passes before it is scheduled (UUPS, the storage-layout gate)
- deploy: `deploy_ushk`, the one way the token is deployed (`ape run deploy token`, `make run`,
  the tests, the gas benchmark); importable from here
"""

from scripts._ushk.deploy import deploy_ushk

__all__ = ["deploy_ushk"]

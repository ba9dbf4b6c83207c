"""Upgrades of the USHK token through its timelock: `ape run upgrade schedule|execute|cancel|status`.

UPGRADER_ROLE is held by an OpenZeppelin TimelockController (contracts/USHKTimelock.sol, deployed
by `ape run deploy token` unless --upgrader was given): an upgrade is scheduled by a proposer,
waits at least the timelock's minimum delay in public, and is then executed by an executor (or
cancelled by a canceller). `schedule` deploys the new implementation only after the storage-layout
check (tools/storage_layout.py, against contracts/storage-layout/USHK.json) accepts it. The
operations are recorded in deployments/<network>.json under `timelock.operations`.
"""

import json
import time

import click
from eth_utils import keccak

from scripts._ushk.cli import BYTES32, ConnectedCommand, json_option, signer_option
from scripts._ushk.contracts import implementation_of, token_from_deployment
from scripts._ushk.deployments import save_deployment, utc_now
from scripts._ushk.network import resolve_sender
from scripts._ushk.timelock import (
    OPERATION_STATES,
    check_storage_layout,
    find_operation,
    require_timelock_role,
    timelock_from_deployment,
    uups_container,
)
from scripts._ushk.transactions import transact
from scripts._ushk.values import ZERO32, hex32


@click.group()
def cli():
    """Upgrade the USHK token through its timelock: schedule, execute, cancel, status."""


def _when(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


@cli.command(cls=ConnectedCommand)
@signer_option("a timelock proposer")
@click.argument("contract_name")
@click.option("--call-data", default="0x", help="Call to make on the new implementation (hex), default none.")
@click.option(
    "--salt", type=BYTES32, help="The operation's salt. Default: keccak256 of the new implementation."
)
@click.option(
    "--delay",
    type=click.IntRange(min=0),
    help="Seconds before it can be executed. Default (and least): the timelock's minimum delay.",
)
def schedule(account, contract_name, call_data, salt, delay):
    """Deploy CONTRACT_NAME and schedule the token's upgrade to it in the timelock (as a proposer).

    The storage-layout check runs first: an implementation that moves or changes a recorded member
    of USHKStorage, or declares state outside its namespace, is refused and nothing is deployed.
    Prints the operation id and the time from which `ape run upgrade execute` can run it.

    \b
    Example: ape run upgrade schedule USHK --account governance
    """
    try:
        data = bytes.fromhex(call_data.removeprefix("0x"))
    except ValueError:
        raise click.BadParameter(f"'{call_data}' is not hex", param_hint="--call-data") from None
    container = uups_container(contract_name)
    check_storage_layout(container, contract_name)
    token, info = token_from_deployment()
    timelock = timelock_from_deployment(info)
    sender = resolve_sender(account, what="the schedule")
    require_timelock_role(timelock, "PROPOSER_ROLE", sender, doing="scheduling an upgrade")
    min_delay = int(timelock.getMinDelay())
    if delay is None:
        delay = min_delay
    elif delay < min_delay:
        raise click.BadParameter(f"below the timelock's minimum delay ({min_delay} s)", param_hint="--delay")
    impl = sender.deploy(container)
    click.echo(f"implementation {contract_name} at {impl.address} (storage layout checked)")
    payload = token.upgradeToAndCall.encode_input(impl.address, data)
    salt = salt or keccak(bytes.fromhex(impl.address[2:]))
    op_id = bytes(timelock.hashOperation(token.address, 0, payload, ZERO32, salt))
    transact(
        timelock.schedule, token.address, 0, payload, ZERO32, salt, delay, sender=sender, what="schedule"
    )
    ready_at = int(timelock.getTimestamp(op_id))
    info["timelock"].setdefault("operations", []).append(
        {
            "id": hex32(op_id),
            "contract": contract_name,
            "implementation": impl.address,
            "call_data": "0x" + data.hex(),
            "salt": hex32(salt),
            "payload": "0x" + bytes(payload).hex(),
            "ready_at": ready_at,
            "scheduled_at": utc_now(),
            "scheduled_by": sender.address,
            "state": "scheduled",
        }
    )
    save_deployment(info)
    click.echo(f"scheduled upgrade of {token.address} to {impl.address} ({contract_name})")
    click.echo(f"operation id: {hex32(op_id)}")
    click.echo(f"ready at:     {_when(ready_at)} ({ready_at}; delay {delay} s)")
    click.echo("then: ape run upgrade execute (as an executor); or ape run upgrade cancel (as a canceller)")


@cli.command(cls=ConnectedCommand)
@signer_option("a timelock executor")
@click.argument("operation_id", type=BYTES32, required=False)
def execute(account, operation_id):
    """Execute a scheduled upgrade that is ready (as an executor). Default: the last scheduled one."""
    token, info = token_from_deployment()
    timelock = timelock_from_deployment(info)
    op = find_operation(info, operation_id)
    op_id = bytes.fromhex(op["id"][2:])
    state = OPERATION_STATES[int(timelock.getOperationState(op_id))]
    if state == "waiting":
        ready_at = int(timelock.getTimestamp(op_id))
        from ape import chain

        left = ready_at - chain.blocks.head.timestamp
        raise click.ClickException(
            f"operation {op['id']} is not ready: it can be executed from {_when(ready_at)} (in {left} s)"
        )
    if state != "ready":
        raise click.ClickException(f"operation {op['id']} cannot be executed: it is {state}")
    sender = resolve_sender(account, what="the execution")
    require_timelock_role(timelock, "EXECUTOR_ROLE", sender, doing="executing an upgrade")
    old = implementation_of(token.address)
    payload = bytes.fromhex(op["payload"][2:])
    salt = bytes.fromhex(op["salt"][2:])
    transact(timelock.execute, token.address, 0, payload, ZERO32, salt, sender=sender, what="execute")
    new = implementation_of(token.address)
    if new != op["implementation"]:
        raise click.ClickException(
            f"the proxy points at {new}, not the new implementation {op['implementation']}"
        )
    op["state"] = "executed"
    op["executed_at"] = utc_now()
    info["implementation"] = new
    info["implementation_contract"] = op["contract"]
    info.setdefault("upgrades", []).append(
        {"from": old, "to": new, "contract": op["contract"], "at": utc_now(), "operation": op["id"]}
    )
    save_deployment(info)
    click.echo(f"upgraded {token.address}: implementation {old} -> {new} ({op['contract']})")


@cli.command(cls=ConnectedCommand)
@signer_option("a timelock canceller")
@click.argument("operation_id", type=BYTES32, required=False)
def cancel(account, operation_id):
    """Cancel a scheduled upgrade that has not run (as a canceller). Default: the last scheduled one."""
    _token, info = token_from_deployment()
    timelock = timelock_from_deployment(info)
    op = find_operation(info, operation_id)
    op_id = bytes.fromhex(op["id"][2:])
    state = OPERATION_STATES[int(timelock.getOperationState(op_id))]
    if state not in ("waiting", "ready"):
        raise click.ClickException(f"operation {op['id']} cannot be cancelled: it is {state}")
    sender = resolve_sender(account, what="the cancellation")
    require_timelock_role(timelock, "CANCELLER_ROLE", sender, doing="cancelling an upgrade")
    transact(timelock.cancel, op_id, sender=sender, what="cancel")
    op["state"] = "cancelled"
    op["cancelled_at"] = utc_now()
    save_deployment(info)
    click.echo(f"cancelled operation {op['id']} (upgrade to {op['implementation']}, {op['contract']})")


@cli.command(cls=ConnectedCommand)
@json_option("Print JSON only.")
def status(as_json):
    """Show the timelock, its delay and roles, and every recorded upgrade operation's state."""
    from ape import chain

    token, info = token_from_deployment()
    timelock = timelock_from_deployment(info)
    now = chain.blocks.head.timestamp
    ops = []
    for op in info["timelock"].get("operations", []):
        op_id = bytes.fromhex(op["id"][2:])
        ready_at = int(timelock.getTimestamp(op_id))
        ops.append(
            {
                **{k: op[k] for k in ("id", "contract", "implementation", "salt")},
                "state": OPERATION_STATES[int(timelock.getOperationState(op_id))],
                "ready_at": ready_at if ready_at > 1 else op.get("ready_at"),
            }
        )
    result = {
        "token": token.address,
        "implementation": implementation_of(token.address),
        "timelock": timelock.address,
        "min_delay": int(timelock.getMinDelay()),
        "upgrader_is_timelock": bool(token.hasRole(token.UPGRADER_ROLE(), timelock.address)),
        "admin_delay": int(token.defaultAdminDelay()),
        "default_admin": token.defaultAdmin(),
        "now": now,
        "operations": ops,
    }
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"USHK {result['token']}: implementation {result['implementation']}")
    click.echo(
        f"  timelock {result['timelock']} (minimum delay {result['min_delay']} s; "
        f"{'holds' if result['upgrader_is_timelock'] else 'does NOT hold'} UPGRADER_ROLE)"
    )
    click.echo(f"  default admin {result['default_admin']} (transfers wait {result['admin_delay']} s)")
    if not ops:
        click.echo("  no upgrade operations recorded")
    for op in ops:
        when = ""
        if op["state"] == "waiting":
            when = f", ready at {_when(op['ready_at'])} (in {op['ready_at'] - now} s)"
        click.echo(f"  {op['id']} {op['state']}: {op['contract']} at {op['implementation']}{when}")

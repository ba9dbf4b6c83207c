"""The reconciler over many mints against a real anvil: a pass over a few hundred minted
deposits (in several block ranges) with one unbacked mint among them finds exactly that mint,
with the same message as a per-event check; and the grouping of a range's postings into
write transactions ends every group at a block boundary."""

from __future__ import annotations

from chain_support import UNITS_PER_USD, audit_kinds, deposit, deposits_of
from reserve_support import halted, reconcile
from service.chain.events import MINTED, REDEEMED, Event
from service.chain.token import load_account
from service.deposits.ids import deposit_id_for
from service.reserves.follower import _groups
from service.reserves.reconciler import Reconciler

USD = UNITS_PER_USD
DEPOSITS = 300


def test_passOverHundredsOfMints_findsExactlyTheUnbackedOne(bank, deployed, workers):
    env, client = bank
    minter, attestor = workers
    token = deployed.token()
    holders = [h.address for h in deployed.holders[:3]]
    for n in range(DEPOSITS // 2):
        deposit(client, holders[n % 3], "1.00")
    while minter.step():
        pass
    for n in range(DEPOSITS // 2, DEPOSITS):
        deposit(client, holders[n % 3], "1.00")
    # a mint behind the service's back, with a well-formed id of a deposit that does not exist,
    # under an attestation raised by hand to make room for it
    token.transact(attestor.signer, "attestReserves", (DEPOSITS + 10) * USD, b"\x00" * 32, b"\x00" * 32)
    rogue = deployed.holders[4]
    deployed.contract.configureMinter(rogue, 1_000 * USD, 1_000 * USD, sender=deployed.admin)
    unknown_seq = 10**9
    receipt = deployed.contract.mint(deployed.holders[3], 7 * USD, deposit_id_for(unknown_seq), sender=rogue)
    while minter.step():
        pass
    assert [d.status for d in deposits_of(env)] == ["minted"] * DEPOSITS

    reconciler = Reconciler(
        env.db,
        token,
        pauser=load_account(deployed.pauser.private_key),
        from_block=deployed.from_block,
        batch_blocks=3,
    )
    result = reconcile(reconciler)
    unbacked = [f for f in result.findings if f["code"] == "unbacked_mint"]
    assert unbacked == [
        {
            "code": "unbacked_mint",
            "message": f"Minted event for deposit {unknown_seq}, which is unknown: no accepted deposit behind it",
            "deposit_id": "0x" + deposit_id_for(unknown_seq).hex(),
            "to": deployed.holders[3].address,
            "amount_units": str(7 * USD),
            "minter": rogue.address,
            "tx_hash": receipt.txn_hash.lower(),
            "block_number": receipt.block_number,
        }
    ]
    assert {f["code"] for f in result.findings} == {
        "unbacked_mint",
        "supply_mismatch",
        "reserves_below_supply",
        "attestation_above_reserves",
    }
    mismatch = [f for f in result.findings if f["code"] == "supply_mismatch"]
    assert (
        len(mismatch) == 1
        and int(mismatch[0]["supply_units"]) - int(mismatch[0]["explained_units"]) == 7 * USD
    )
    assert result.ledger_supply_units == DEPOSITS * USD and result.in_flight_units == 0
    assert result.halted and halted(env)
    assert audit_kinds(env).count("alert.unbacked_mint") == 1
    # the cursor reached the head: a second pass finds no new unbacked mint
    again = reconcile(reconciler)
    assert "unbacked_mint" not in {f["code"] for f in again.findings}
    assert audit_kinds(env).count("alert.unbacked_mint") == 1


def _event(kind: str, block: int, log_index: int = 0) -> Event:
    return Event(kind, {}, "0x", block, log_index)


def test_groups_splitPostingsAtBlockBoundariesOnly():
    events = [
        _event(REDEEMED, 10, 0),
        _event(REDEEMED, 10, 1),
        _event(MINTED, 10, 2),
        _event(REDEEMED, 11),
        _event(MINTED, 12),
        _event(REDEEMED, 13),
    ]
    groups = list(_groups(events, 20, 2))
    assert [(end, [(e.block, e.log_index) for e in g]) for end, g in groups] == [
        (10, [(10, 0), (10, 1), (10, 2)]),
        (20, [(11, 0), (12, 0), (13, 0)]),
    ]
    assert [end for end, _ in _groups([], 5, 2)] == [5]
    assert [end for end, _ in _groups(events, 20, 200)] == [20]


def _claim(env, minter, attestor, token):
    """Claims the accepted deposits into a batch (now `minting`) and signs its transaction
    without sending it: (signed tx, batch id, units)."""
    from service.deposits import outbox

    with env.db.transaction() as session:
        deposits = outbox.claim_batch(session, 10)
        items = [(d.beneficiary, d.onchain_amount, d.deposit_id) for d in deposits]
        batch_id = deposits[0].mint_batch_id
    units = sum(i[1] for i in items)
    attestor.ensure_covers(units + token.total_supply())
    signed = token.build_mint_batch(minter.signer, items, token.pending_nonce(minter.signer.address))
    with env.db.transaction() as session:
        outbox.record_batch_sent(session, batch_id, signed.tx_hash, signed.nonce)
    return signed, units


def test_mintsInFlight_foundAcrossPassesOfOneReconciler_withoutRescanningFromDeployment(
    bank, deployed, workers
):
    """Deposits stuck in `minting` (the minter stopped) while blocks go by: one mined before the
    reconciler's first pass, one claimed before a pass and mined after it, one claimed and mined
    between two passes; each pass explains the supply with them, and once settled they count
    in the ledger instead."""
    env, client = bank
    minter, attestor = workers
    token = deployed.token()
    reconciler = Reconciler(env.db, token, from_block=deployed.from_block)

    def other_blocks(n: int) -> None:
        for _ in range(n):
            token.w3.provider.make_request("evm_mine", [])

    deposit(client, deployed.holders[0].address, "10.00")
    first, units1 = _claim(env, minter, attestor, token)
    token.send_raw(first)
    token.wait_receipt(first.tx_hash)
    other_blocks(20)
    result = reconcile(reconciler)  # the first pass scans from the deployment block
    assert result.ok, result.findings
    assert result.in_flight_units == units1

    deposit(client, deployed.holders[1].address, "20.00")
    second, units2 = _claim(env, minter, attestor, token)
    result = reconcile(reconciler)  # claimed, not sent: nothing more in flight
    assert result.ok and result.in_flight_units == units1
    # the next pass looks for the claimed deposit's mint only in blocks above this one
    assert all(
        lb == result.block + 1 for d, lb in reconciler._mint_scan.items() if d not in reconciler._found
    )
    other_blocks(5)
    token.send_raw(second)
    token.wait_receipt(second.tx_hash)
    other_blocks(5)
    deposit(client, deployed.holders[2].address, "30.00")
    third, units3 = _claim(env, minter, attestor, token)
    token.send_raw(third)
    token.wait_receipt(third.tx_hash)
    for _ in range(2):
        result = reconcile(reconciler)
        assert result.ok, result.findings
        assert result.in_flight_units == units1 + units2 + units3
    # a fresh reconciler (a restart) scans from the deployment block and agrees
    fresh = reconcile(Reconciler(env.db, token, from_block=deployed.from_block))
    assert fresh.ok and fresh.in_flight_units == units1 + units2 + units3

    minter.recover()  # settles the sent batches from their receipts
    assert {d.status for d in deposits_of(env)} == {"minted"}
    result = reconcile(reconciler)
    assert result.ok and result.in_flight_units == 0
    assert result.ledger_supply_units == units1 + units2 + units3
    assert not halted(env)

"""Stateful property test: random sequences of mints (single and batch, random and repeated
deposit ids, by the minter and by a non-minter), transfers, redemptions, freezes, unfreezes,
wipes, attestations (also below the supply), time travel past the maximum attestation age, the
three pauses, allowlist changes and minter reconfiguration, run against a Python model of the
token that mirrors the contract's checks in their order.

After every step the model and the chain must agree on every balance, the supply, the frozen
flags, the minted deposit ids and the redemption count; every operation must succeed or revert
exactly as the model predicts (same custom error, same arguments). Also checked: the supply is
within the attested reserves after every successful mint, no deposit id is ever minted twice
(from the Minted events), and a frozen balance never moves except through wipeFrozen.

The token is deployed once (the `token` fixture); each example runs between `chain.snapshot()`
and `chain.restore()`, so examples are independent. Operations go through raw JSON-RPC
(eth_call to learn the outcome, eth_sendTransaction from anvil's unlocked dev accounts to apply
it) because ape's per-transaction work, above all the call trace it fetches for every revert,
would make a few hundred steps take minutes.
"""

from __future__ import annotations

import hypothesis.strategies as st
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from token_helpers import DAY, ZERO32, ZERO_ADDRESS, b32, dep_id
from wait_support import wait_for

MINTER_ALLOWANCE = 1_500
MAX_PER_MINT = 400
INITIAL_RESERVES = 2_500
GAS = 3_000_000

#: Deposit ids drawn again and again, across three bitmap words, plus the all-zero id.
POOL_IDS = [dep_id(s) for s in (0, 1, 2, 255, 256, 257, 600)] + [ZERO32]

MINTED_TOPIC = keccak(text="Minted(address,address,uint256,bytes32)")
REDEMPTION_TOPIC = keccak(text="RedemptionRequested(uint256,address,uint256,bytes32)")


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def calldata(signature: str, *args) -> str:
    types = signature[signature.index("(") + 1 : -1]
    types = [t for t in types.split(",") if t]
    return "0x" + (_selector(signature) + abi_encode(types, list(args))).hex()


class RawToken:
    """The token at `address` over raw JSON-RPC."""

    def __init__(self, web3, address, decoder):
        self.provider = web3.provider
        self.address = address
        self.decoder = decoder

    def _rpc(self, method, params):
        return self.provider.make_request(method, params)

    def outcome(self, sender, signature, *args):
        """Executes the call with eth_call: ("ok", return data) or ("revert", name, inputs)."""
        tx = {"from": sender, "to": self.address, "data": calldata(signature, *args), "gas": hex(GAS)}
        response = self._rpc("eth_call", [tx, "latest"])
        if "error" in response:
            data = response["error"].get("data")
            assert isinstance(data, str) and data.startswith("0x"), response
            name, inputs = self.decoder.decode(bytes.fromhex(data[2:]))
            return ("revert", name, inputs)
        return ("ok", bytes.fromhex(response["result"][2:]))

    def send(self, sender, signature, *args) -> dict:
        tx = {"from": sender, "to": self.address, "data": calldata(signature, *args), "gas": hex(GAS)}
        response = self._rpc("eth_sendTransaction", [tx])
        assert "error" not in response, response
        # anvil mines at once but may answer before the receipt is stored
        receipt = wait_for(
            f"the receipt of {response['result']}",
            lambda: self._rpc("eth_getTransactionReceipt", [response["result"]])["result"],
            10,
            interval=0.002,
        )
        assert int(receipt["status"], 16) == 1, receipt
        return receipt

    def timestamp_of(self, receipt) -> int:
        block = self._rpc("eth_getBlockByNumber", [receipt["blockNumber"], False])["result"]
        return int(block["timestamp"], 16)

    def views(self, calls):
        """Many view calls in one JSON-RPC batch: [(signature, args, return types)] -> values."""
        batch = [
            ("eth_call", [{"to": self.address, "data": calldata(sig, *args)}, "latest"])
            for sig, args, _ in calls
        ]
        responses = self.provider.make_batch_request(batch)
        assert isinstance(responses, list), responses
        values = []
        for (sig, _, types), response in zip(calls, responses, strict=True):
            assert "result" in response, (sig, response)
            decoded = abi_decode(types, bytes.fromhex(response["result"][2:]))
            values.append(decoded[0] if len(types) == 1 else decoded)
        return values

    def view(self, signature, *args, returns=("uint256",)):
        return self.views([(signature, args, list(returns))])[0]


def logs_with_topic(receipt, address, topic):
    return [
        log
        for log in receipt["logs"]
        if to_checksum_address(log["address"]) == address and bytes.fromhex(log["topics"][0][2:]) == topic
    ]


def test_token_matchesModelUnderRandomOperations(
    token, chain, error_decoder, admin, minter, pauser, compliance, attestor, accounts
):
    holders = [to_checksum_address(a.address) for a in (accounts[6], accounts[7], accounts[8], accounts[9])]
    roles = {
        "admin": to_checksum_address(admin.address),
        "minter": to_checksum_address(minter.address),
        "pauser": to_checksum_address(pauser.address),
        "compliance": to_checksum_address(compliance.address),
        "attestor": to_checksum_address(attestor.address),
    }
    raw = RawToken(chain.provider.web3, to_checksum_address(token.address), error_decoder)
    # the deployment every example starts from: no supply, a small minter, fresh small reserves
    token.configureMinter(minter, MINTER_ALLOWANCE, MAX_PER_MINT, sender=admin)
    token.attestReserves(INITIAL_RESERVES, b32("report-0"), b32("head-0"), sender=attestor)
    assert token.totalSupply() == 0

    holder_idx = st.integers(0, len(holders) - 1)
    # a holder, or (one time in ten) the zero address
    recipient = st.integers(0, 9).map(lambda i: ZERO_ADDRESS if i == 9 else holders[i % len(holders)])
    amounts = st.integers(0, MAX_PER_MINT + 50)
    UINT128_MAX = 2**128 - 1
    # any uint256, with the edges of the token's uint128 storage drawn often
    wide = st.one_of(
        st.integers(0, 2**256 - 1), st.integers(UINT128_MAX - 1, UINT128_MAX + 1), st.just(2**256 - 1)
    )
    # transfers and redemptions: mostly around the balances, sometimes anywhere in uint256
    spend = st.one_of(st.integers(0, 600), wide)
    deposit_ids = st.one_of(st.sampled_from(POOL_IDS), st.binary(min_size=32, max_size=32))
    mint_items = st.tuples(recipient, amounts, deposit_ids)
    # one to four items, or (one time in ten) an empty batch
    batches = st.integers(0, 9).flatmap(
        lambda k: st.just([]) if k == 0 else st.lists(mint_items, min_size=1, max_size=4)
    )

    outcomes: dict[str, int] = {}
    steps = {"examples": 0, "steps": 0}

    class TokenModel(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.snapshot = chain.snapshot()
            attestation = raw.view(
                "reserveAttestation()", returns=("uint256", "uint64", "bytes32", "bytes32")
            )
            self.balances = dict.fromkeys(holders, 0)
            self.supply = 0
            self.frozen: set[str] = set()
            self.allowed: set[str] = set()
            self.allowlist = False
            self.paused = self.minting_paused = self.redemptions_paused = False
            self.minted: set[bytes] = set()
            self.minted_in_events: set[bytes] = set()
            self.allowance = MINTER_ALLOWANCE
            self.attested, self.attested_at = attestation[0], attestation[1]
            self.stale = False
            self.redemptions = 0
            # balances of frozen accounts as read from the chain when they were frozen
            self.frozen_balances: dict[str, int] = {}
            self.checked_ids: set[bytes] = set(POOL_IDS)
            steps["examples"] += 1

        def teardown(self):
            if hasattr(self, "snapshot"):
                chain.restore(self.snapshot)

        # ---------------------------------------------------------------- helpers

        def expect(self, outcome, predicted):
            """Compares the chain's outcome with the model's prediction (None: success)."""
            label = outcome[1] if outcome[0] == "revert" else "ok"
            event(label)
            outcomes[label] = outcomes.get(label, 0) + 1
            if predicted is None:
                assert outcome[0] == "ok", f"model expects success, chain reverts {outcome[1:]}"
            else:
                name, inputs = predicted
                assert outcome[0] == "revert", f"model expects {name}{inputs}, chain succeeds"
                assert (outcome[1], outcome[2]) == (name, inputs), (
                    f"model expects {name}{inputs}, chain reverts {outcome[1]}{outcome[2]}"
                )

        def predict_mint(self, caller, items, batch):
            if batch and not items:
                return ("InvalidBatch", {})
            if caller != roles["minter"]:
                return ("NotMinter", {"caller": caller})
            if self.paused:
                return ("TokenPaused", {})
            if self.minting_paused:
                return ("MintingIsPaused", {})
            seen, total = set(self.minted), 0
            for to, amount, deposit in items:
                if deposit == ZERO32:
                    return ("InvalidDepositId", {})
                if deposit in seen:
                    return ("DepositAlreadyMinted", {"depositId": deposit})
                seen.add(deposit)
                if amount == 0:
                    return ("ZeroAmount", {})
                if amount > MAX_PER_MINT:
                    return ("MintAboveMaximum", {"amount": amount, "maxPerMint": MAX_PER_MINT})
                if to == ZERO_ADDRESS:
                    return ("ZeroAddress", {})
                if to in self.frozen:
                    return ("AccountFrozen", {"account": to})
                if self.allowlist and to not in self.allowed:
                    return ("NotAllowlisted", {"account": to})
                total += amount
            if total > self.allowance:
                return (
                    "MinterAllowanceExceeded",
                    {"minter": roles["minter"], "allowance": self.allowance, "amount": total},
                )
            if self.stale:
                return ("AttestationStale", {"attestedAt": self.attested_at, "maxAge": DAY})
            if self.supply + total > self.attested:
                return (
                    "ReserveCeilingExceeded",
                    {"supplyAfter": self.supply + total, "attested": self.attested},
                )
            return None

        def apply_mint(self, caller, items, batch):
            if batch:
                sig = "mintBatch(address[],uint256[],bytes32[])"
                args = ([i[0] for i in items], [i[1] for i in items], [i[2] for i in items])
            else:
                sig, args = "mint(address,uint256,bytes32)", items[0]
            predicted = self.predict_mint(caller, items, batch)
            self.expect(raw.outcome(caller, sig, *args), predicted)
            if predicted is not None:
                return
            receipt = raw.send(caller, sig, *args)
            logged = [
                bytes.fromhex(log["topics"][3][2:])
                for log in logs_with_topic(receipt, raw.address, MINTED_TOPIC)
            ]
            assert logged == [i[2] for i in items]
            for deposit in logged:
                assert deposit not in self.minted_in_events, f"deposit {deposit.hex()} minted twice"
                self.minted_in_events.add(deposit)
            for to, amount, deposit in items:
                self.balances[to] += amount
                self.supply += amount
                self.allowance -= amount
                self.minted.add(deposit)
                self.checked_ids.add(deposit)
            supply, attested = raw.views(
                [
                    ("totalSupply()", (), ["uint256"]),
                    ("reserveAttestation()", (), ["uint256", "uint64", "bytes32", "bytes32"]),
                ]
            )
            assert supply <= attested[0], "supply above the attested reserves after a mint"

        # ---------------------------------------------------------------- rules

        @rule(
            to=recipient,
            amount=amounts,
            deposit=deposit_ids,
            caller=st.sampled_from(["minter", "minter", "minter", "admin"]),
        )
        def mint(self, to, amount, deposit, caller):
            self.apply_mint(roles[caller], [(to, amount, deposit)], batch=False)

        @rule(items=batches)
        def mint_batch(self, items):
            self.apply_mint(roles["minter"], items, batch=True)

        @rule(sender=holder_idx, to=recipient, amount=spend)
        def transfer(self, sender, to, amount):
            sender = holders[sender]
            predicted = None
            if to == ZERO_ADDRESS:
                predicted = ("ZeroAddress", {})
            elif self.paused:
                predicted = ("TokenPaused", {})
            elif sender in self.frozen:
                predicted = ("AccountFrozen", {"account": sender})
            elif to in self.frozen:
                predicted = ("AccountFrozen", {"account": to})
            elif self.allowlist and to not in self.allowed:
                predicted = ("NotAllowlisted", {"account": to})
            elif self.balances[sender] < amount:
                predicted = (
                    "InsufficientBalance",
                    {"account": sender, "balance": self.balances[sender], "needed": amount},
                )
            self.expect(raw.outcome(sender, "transfer(address,uint256)", to, amount), predicted)
            if predicted is None:
                raw.send(sender, "transfer(address,uint256)", to, amount)
                self.balances[sender] -= amount
                self.balances[to] += amount

        @rule(holder=holder_idx, amount=spend, zero_ref=st.booleans())
        def redeem(self, holder, amount, zero_ref):
            holder = holders[holder]
            ref = ZERO32 if zero_ref else b32("payout")
            predicted = None
            if amount == 0:
                predicted = ("ZeroAmount", {})
            elif zero_ref:
                predicted = ("InvalidPayoutRef", {})
            elif self.paused:
                predicted = ("TokenPaused", {})
            elif self.redemptions_paused:
                predicted = ("RedemptionsArePaused", {})
            elif holder in self.frozen:
                predicted = ("AccountFrozen", {"account": holder})
            elif self.balances[holder] < amount:
                predicted = (
                    "InsufficientBalance",
                    {"account": holder, "balance": self.balances[holder], "needed": amount},
                )
            outcome = raw.outcome(holder, "redeem(uint256,bytes32)", amount, ref)
            self.expect(outcome, predicted)
            if predicted is None:
                assert abi_decode(["uint256"], outcome[1])[0] == self.redemptions + 1
                receipt = raw.send(holder, "redeem(uint256,bytes32)", amount, ref)
                (log,) = logs_with_topic(receipt, raw.address, REDEMPTION_TOPIC)
                assert int(log["topics"][1], 16) == self.redemptions + 1
                self.redemptions += 1
                self.balances[holder] -= amount
                self.supply -= amount

        @rule(holder=holder_idx)
        def freeze(self, holder):
            holder = holders[holder]
            self.expect(raw.outcome(roles["compliance"], "freeze(address)", holder), None)
            raw.send(roles["compliance"], "freeze(address)", holder)
            if holder not in self.frozen:
                self.frozen_balances[holder] = raw.view("balanceOf(address)", holder)
            self.frozen.add(holder)

        @precondition(lambda self: self.frozen)
        @rule(data=st.data())
        def unfreeze(self, data):
            holder = data.draw(st.sampled_from(sorted(self.frozen)))
            raw.send(roles["compliance"], "unfreeze(address)", holder)
            self.frozen.discard(holder)
            del self.frozen_balances[holder]

        @rule(holder=holder_idx)
        def wipe(self, holder):
            holder = holders[holder]
            predicted = None if holder in self.frozen else ("NotFrozen", {"account": holder})
            outcome = raw.outcome(roles["compliance"], "wipeFrozen(address)", holder)
            self.expect(outcome, predicted)
            if predicted is None:
                assert abi_decode(["uint256"], outcome[1])[0] == self.balances[holder]
                raw.send(roles["compliance"], "wipeFrozen(address)", holder)
                self.supply -= self.balances[holder]
                self.balances[holder] = 0
                self.frozen_balances[holder] = 0

        @rule(allowance=st.one_of(st.integers(0, 2_000), wide))
        def configure_minter(self, allowance):
            call = ("configureMinter(address,uint256,uint256)", roles["minter"], allowance, MAX_PER_MINT)
            # stored as uint128: anything larger is refused, and nothing changes
            predicted = ("AmountTooLarge", {"amount": allowance}) if allowance > UINT128_MAX else None
            self.expect(raw.outcome(roles["admin"], *call), predicted)
            if predicted is None:
                raw.send(roles["admin"], *call)
                self.allowance = allowance

        @rule(delta=st.integers(-300, 1_500), anywhere=st.one_of(st.none(), wide))
        def attest(self, delta, anywhere):
            # below the supply when delta < 0; or any uint256 (the ceiling is a uint128)
            amount = max(0, self.supply + delta) if anywhere is None else anywhere
            call = ("attestReserves(uint256,bytes32,bytes32)", amount, b32("report"), b32("head"))
            predicted = ("AmountTooLarge", {"amount": amount}) if amount > UINT128_MAX else None
            self.expect(raw.outcome(roles["attestor"], *call), predicted)
            if predicted is None:
                receipt = raw.send(roles["attestor"], *call)
                self.attested, self.attested_at = amount, raw.timestamp_of(receipt)
                self.stale = False

        @rule()
        def time_passes_beyond_max_age(self):
            chain.provider.web3.provider.make_request("evm_increaseTime", [DAY + 3_600])
            chain.provider.web3.provider.make_request("evm_mine", [])
            self.stale = True

        @rule(which=st.sampled_from(["", "Minting", "Redemptions"]), on=st.booleans())
        def set_pause(self, which, on):
            raw.send(roles["pauser"], f"{'pause' if on else 'unpause'}{which}()")
            setattr(
                self,
                {"": "paused", "Minting": "minting_paused", "Redemptions": "redemptions_paused"}[which],
                on,
            )

        @rule(on=st.booleans())
        def set_allowlist(self, on):
            raw.send(roles["compliance"], "setAllowlistEnabled(bool)", on)
            self.allowlist = on

        @rule(holder=holder_idx, allowed=st.booleans())
        def set_allowed(self, holder, allowed):
            raw.send(roles["compliance"], "setAllowed(address,bool)", holders[holder], allowed)
            (self.allowed.add if allowed else self.allowed.discard)(holders[holder])

        # ---------------------------------------------------------------- invariants

        @invariant()
        def chain_agrees_with_model(self):
            steps["steps"] += 1
            ids = sorted(self.checked_ids)
            calls = (
                [
                    ("totalSupply()", (), ["uint256"]),
                    ("redemptionCount()", (), ["uint256"]),
                    ("minterAllowance(address)", (roles["minter"],), ["uint256"]),
                ]
                + [("balanceOf(address)", (h,), ["uint256"]) for h in holders]
                + [("isFrozen(address)", (h,), ["bool"]) for h in holders]
                + [("isDepositMinted(bytes32)", (d,), ["bool"]) for d in ids]
            )
            values = raw.views(calls)
            supply, redemptions, allowance = values[:3]
            balances = dict(zip(holders, values[3 : 3 + len(holders)], strict=True))
            frozen = dict(zip(holders, values[3 + len(holders) : 3 + 2 * len(holders)], strict=True))
            minted = dict(zip(ids, values[3 + 2 * len(holders) :], strict=True))

            assert supply == sum(balances.values()), "supply differs from the sum of balances"
            assert supply == self.supply
            assert balances == self.balances
            assert redemptions == self.redemptions
            assert allowance == self.allowance
            assert {h for h, f in frozen.items() if f} == self.frozen
            assert {d for d, m in minted.items() if m} == self.minted
            for holder, balance in self.frozen_balances.items():
                assert balances[holder] == balance, f"frozen balance of {holder} moved"

    run_state_machine_as_test(
        TokenModel,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print("\nstateful outcomes:", steps, dict(sorted(outcomes.items())))
    assert outcomes.get("AmountTooLarge"), "no amount beyond the token's uint128 storage was tried"

"""Stateful property test: random sequences of the token's operations, run against a Python
model of the token that mirrors the contract's checks in their order:

- mints (single and batch, random and repeated deposit ids, by the minter, the admin and holders
  who may have been granted MINTER_ROLE), transfers, redemptions;
- approvals (unlimited ones included) and transferFrom;
- EIP-2612 permits with real EIP-712 signatures: valid, past their deadline, signed by another
  holder, and replays of a used permit;
- EIP-3009 transferWithAuthorization, receiveWithAuthorization (by the payee or someone else) and
  cancelAuthorization, with nonces from a small pool (so used and cancelled nonces come back),
  windows that are open, not yet open or over, and sometimes another holder's key;
- freezes, unfreezes, wipes, the three pauses, allowlist changes;
- reserve attestations (also below the supply, and any uint256), time moving by seven hours or
  by more than the maximum attestation age;
- minter reconfiguration, removal and re-adding, grants and revocations of MINTER_ROLE,
  PAUSER_ROLE and ATTESTOR_ROLE by the admin, and attempts by accounts without the role;
- upgrades to a second implementation (contracts/test/USHKV2Example.sol) and back, by the
  upgrader or by an account without UPGRADER_ROLE.

Every operation must succeed or revert exactly as the model predicts (same custom error, same
arguments) from its own state. After every step the model and the chain must agree on every
balance, allowance, permit nonce, freeze, allowlist entry, flag and pause, the supply, the
attestation, the minted deposit ids, the pooled EIP-3009 nonces, the minters' configuration, the
managed roles of every candidate account, the redemption count and the implementation. Also
checked: the supply is within the attested reserves after every successful mint, no deposit id is
ever minted twice (from the Minted events), and a frozen balance never moves except through
wipeFrozen.

Most calls are followed by the refusals their own outcome implies, asked with eth_call alone
(probes, each predicted and counted like any call): the same permit past its deadline and signed by
another key; the replay of a permit or an authorization that went through; a transfer
authorization outside its window; a receive authorization submitted by someone other than the
payee; a cancelled nonce cancelled again and used; one unit more than the allowance left; the
admin's and the upgrader's calls made by a holder. An unlimited approval is used at once by a
transferFrom (the allowance stays), and each EIP-3009 rule submits, after its drawn
authorization, one that should reach the transfer's own checks. Two rules are short scenarios:
attestation_goes_stale (time passes beyond the maximum age, the minter's mint is refused as stale;
most of the time a fresh attestation follows and the mint goes through) and remove_minter (the
removed minter's mint is refused; half the time it is re-added with a new allowance and mints).
Some inputs are chosen from the model's state (a holder who may receive, an allowance the model
knows, a used or cancelled nonce) so that the checks deep in a function are reached; the outcome
is still the model's prediction.

The outcome of every call is counted per rule (printed at the end with `-s`), and the test fails
unless each rule's success and its main refusals occurred during the run (REQUIRED_OUTCOMES): a
rule that never fires fails the test.

The token is deployed once (the `token` fixture); each example runs between `chain.snapshot()`
and `chain.restore()`, so examples are independent. Operations go through raw JSON-RPC
(eth_call to learn the outcome, eth_sendTransaction from anvil's unlocked dev accounts to apply
it) because ape's per-transaction work, above all the call trace it fetches for every revert,
would make a few hundred steps take minutes.

Time: the model's clock is the timestamp of the latest block it has seen (at the start of an
example, after an attestation and after each move of time). Blocks mined in between run a few
seconds ahead of it, so every time the model compares with the clock is an hour or more away from
it (deadlines, authorization windows), and time moves in steps that keep the attestation's age
hours away from the maximum age (assert_clear_of_max_age).
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

from token_helpers import (
    DAY,
    MAX_UINT128,
    MAX_UINT256,
    ZERO32,
    ZERO_ADDRESS,
    authorization_message,
    b32,
    cancel_message,
    dep_id,
    permit_message,
    sign,
)
from wait_support import wait_for

MINTER_ALLOWANCE = 1_500
MAX_PER_MINT = 400
INITIAL_RESERVES = 2_500
GAS = 3_000_000
HOUR = 3_600

#: Deposit ids drawn again and again, across three bitmap words, plus the all-zero id.
POOL_IDS = [dep_id(s) for s in (0, 1, 2, 255, 256, 257, 600)] + [ZERO32]

MINTED_TOPIC = keccak(text="Minted(address,address,uint256,bytes32)")
REDEMPTION_TOPIC = keccak(text="RedemptionRequested(uint256,address,uint256,bytes32)")

#: EIP-3009 nonces drawn again and again (with random ones), so that used and cancelled nonces
#: come back.
AUTH_NONCES = [keccak(text=f"authorization nonce {i}") for i in range(2)]

ADMIN_ROLE = ZERO32
MINTER_ROLE = keccak(text="MINTER_ROLE")
PAUSER_ROLE = keccak(text="PAUSER_ROLE")
ATTESTOR_ROLE = keccak(text="ATTESTOR_ROLE")
UPGRADER_ROLE = keccak(text="UPGRADER_ROLE")
#: The roles the model grants and revokes (the admin's and the upgrader's stay put).
MANAGED_ROLES = (MINTER_ROLE, PAUSER_ROLE, ATTESTOR_ROLE)

#: ERC-1967 implementation slot: keccak256("eip1967.proxy.implementation") - 1
IMPLEMENTATION_SLOT = int.from_bytes(keccak(text="eip1967.proxy.implementation"), "big") - 1

PERMIT = "permit(address,address,uint256,uint256,uint8,bytes32,bytes32)"
TRANSFER_WITH_AUTHORIZATION = (
    "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
)
RECEIVE_WITH_AUTHORIZATION = (
    "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
)
CANCEL_AUTHORIZATION = "cancelAuthorization(address,bytes32,uint8,bytes32,bytes32)"

#: Outcomes each rule must have had during the run: "ok" is a success, anything else the custom
#: error; "X" is also met by "X/<detail>". Details: "removed" (a mint by the removed minter),
#: "after-stale" (a mint after one refused as stale), "re-added" (the removed minter configured
#: again), "grant"/"revoke", "infinite" (under an unlimited allowance), "wrong-signer", and
#: "used"/"cancelled" (how the EIP-3009 nonce was spent).
REQUIRED_OUTCOMES = {
    "mint": ["ok", "NotMinter/removed", "AttestationStale", "ok/after-stale"],
    "configure_minter": ["ok/re-added", "AccessControlUnauthorizedAccount"],
    "remove_minter": ["ok", "AccessControlUnauthorizedAccount"],
    "change_role": ["ok/grant", "ok/revoke", "AccessControlUnauthorizedAccount"],
    "approve": ["ok"],
    "transfer_from": ["ok", "ok/infinite", "ERC20InsufficientAllowance"],
    "permit": ["ok", "PermitExpired", "InvalidSignature/wrong-signer"],
    "permit_replay": ["InvalidSignature"],
    "transfer_with_authorization": [
        "ok",
        "AuthorizationAlreadyUsed/used",
        "AuthorizationAlreadyUsed/cancelled",
        "AuthorizationExpired",
        "AuthorizationNotYetValid",
    ],
    "receive_with_authorization": ["ok", "CallerNotPayee", "AuthorizationAlreadyUsed/used"],
    "cancel_authorization": ["ok", "AuthorizationAlreadyUsed/cancelled"],
    "attest": ["ok"],
    "upgrade": ["ok", "AccessControlUnauthorizedAccount"],
}


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

    def latest_timestamp(self) -> int:
        block = self._rpc("eth_getBlockByNumber", ["latest", False])["result"]
        return int(block["timestamp"], 16)

    def implementation(self) -> str:
        word = self._rpc("eth_getStorageAt", [self.address, hex(IMPLEMENTATION_SLOT), "latest"])["result"]
        return to_checksum_address("0x" + word[-40:])

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


def acl(account, role):
    """The refusal of an account without the role (OpenZeppelin's AccessControl)."""
    return ("AccessControlUnauthorizedAccount", {"account": account, "neededRole": role})


def test_token_matchesModelUnderRandomOperations(
    token,
    chain,
    chain_id,
    error_decoder,
    v2_container,
    admin,
    minter,
    pauser,
    compliance,
    attestor,
    upgrader,
    accounts,
):
    holder_accounts = [accounts[6], accounts[7], accounts[8], accounts[9]]
    holders = [to_checksum_address(a.address) for a in holder_accounts]
    keys = {h: a.private_key for h, a in zip(holders, holder_accounts, strict=True)}
    roles = {
        "admin": to_checksum_address(admin.address),
        "minter": to_checksum_address(minter.address),
        "pauser": to_checksum_address(pauser.address),
        "compliance": to_checksum_address(compliance.address),
        "attestor": to_checksum_address(attestor.address),
        "upgrader": to_checksum_address(upgrader.address),
    }
    #: accounts whose managed roles change and are checked (the role holders and the holders)
    role_candidates = [roles["minter"], roles["pauser"], roles["attestor"], *holders]
    #: accounts whose minter configuration is checked
    minter_candidates = [roles["admin"], *role_candidates]
    raw = RawToken(chain.provider.web3, to_checksum_address(token.address), error_decoder)
    # the deployment every example starts from: no supply, a small minter, fresh small reserves
    token.configureMinter(minter, MINTER_ALLOWANCE, MAX_PER_MINT, sender=admin)
    token.attestReserves(INITIAL_RESERVES, b32("report-0"), b32("head-0"), sender=attestor)
    assert token.totalSupply() == 0
    # the second implementation, deployed before the first snapshot so every example has it
    implementations = {
        "v1": to_checksum_address(token._test_implementation.address),
        "v2": to_checksum_address(v2_container.deploy(sender=admin).address),
    }
    assert raw.implementation() == implementations["v1"]

    holder_idx = st.integers(0, len(holders) - 1)
    # a holder, or (one time in ten) the zero address
    recipient = st.integers(0, 9).map(lambda i: ZERO_ADDRESS if i == 9 else holders[i % len(holders)])
    amounts = st.integers(0, MAX_PER_MINT + 50)
    # any uint256, with the edges of the token's uint128 storage drawn often
    wide = st.one_of(
        st.integers(0, 2**256 - 1), st.integers(MAX_UINT128 - 1, MAX_UINT128 + 1), st.just(MAX_UINT256)
    )
    # transfers and redemptions: mostly around the balances, sometimes anywhere in uint256
    spend = st.one_of(st.integers(0, 600), wide)
    # allowances: small, unlimited, or anywhere in uint256
    approvals = st.one_of(st.integers(0, 600), st.just(MAX_UINT256), st.just(MAX_UINT256), wide)
    deposit_ids = st.one_of(st.sampled_from(POOL_IDS), st.binary(min_size=32, max_size=32))
    mint_items = st.tuples(recipient, amounts, deposit_ids)
    # one to four items, or (one time in ten) an empty batch
    batches = st.integers(0, 9).flatmap(
        lambda k: st.just([]) if k == 0 else st.lists(mint_items, min_size=1, max_size=4)
    )
    # EIP-3009 nonces: mostly from the pool, sometimes fresh
    auth_nonces = st.integers(0, 4).flatmap(
        lambda k: st.binary(min_size=32, max_size=32) if k == 0 else st.sampled_from(AUTH_NONCES)
    )
    windows = st.sampled_from(["open", "open", "open", "not-yet", "over"])
    # another holder's key one time in eight
    wrong_key = st.integers(0, 7).map(lambda i: i == 0)

    def around(limit):
        """Amounts near a limit the model knows (a balance, an allowance), or anywhere."""
        within = st.integers(0, limit)
        return st.one_of(within, within, st.just(limit), st.just(min(limit + 1, MAX_UINT256)), wide)

    outcomes: dict[str, int] = {}
    by_rule: dict[str, dict[str, int]] = {}
    steps = {"examples": 0, "steps": 0}

    class TokenModel(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.snapshot = chain.snapshot()
            attestation = raw.view(
                "reserveAttestation()", returns=("uint256", "uint64", "bytes32", "bytes32")
            )
            self.clock = raw.latest_timestamp()
            self.balances = dict.fromkeys(holders, 0)
            self.supply = 0
            self.frozen: set[str] = set()
            self.allowed: set[str] = set()
            self.allowlist = False
            self.paused = self.minting_paused = self.redemptions_paused = False
            self.minted: set[bytes] = set()
            self.minted_in_events: set[bytes] = set()
            # minter -> [allowance, maxPerMint, active]
            self.minters = {a: [0, 0, False] for a in minter_candidates}
            self.minters[roles["minter"]] = [MINTER_ALLOWANCE, MAX_PER_MINT, True]
            self.members = {
                MINTER_ROLE: {roles["minter"]},
                PAUSER_ROLE: {roles["pauser"]},
                ATTESTOR_ROLE: {roles["attestor"]},
            }
            self.attested, self.attested_at = attestation[0], attestation[1]
            # a mint was refused as stale in this example and no mint has succeeded since
            self.stale_refused = False
            self.redemptions = 0
            self.allowances: dict[tuple[str, str], int] = {}
            self.nonces = dict.fromkeys(holders, 0)
            # permits that succeeded: (owner, spender, value, deadline, nonce, signature)
            self.used_permits: list[tuple] = []
            # (authorizer, nonce) -> "used" or "cancelled"
            self.authorizations: dict[tuple[str, bytes], str] = {}
            self.checked_authorizations = {(h, n) for h in holders for n in AUTH_NONCES}
            self.implementation = "v1"
            # balances of frozen accounts as read from the chain when they were frozen
            self.frozen_balances: dict[str, int] = {}
            self.checked_ids: set[bytes] = set(POOL_IDS)
            self.fresh_ids = 0
            self.assert_clear_of_max_age()
            steps["examples"] += 1

        def teardown(self):
            if hasattr(self, "snapshot"):
                chain.restore(self.snapshot)

        # ---------------------------------------------------------------- helpers

        def expect(self, rule, outcome, predicted, detail=None):
            """Compares the chain's outcome with the model's prediction (None: success) and counts
            it for the rule, as "ok" or the error's name, with "/detail" when given."""
            label = outcome[1] if outcome[0] == "revert" else "ok"
            key = label if detail is None else f"{label}/{detail}"
            event(f"{rule}: {key}")
            outcomes[label] = outcomes.get(label, 0) + 1
            counts = by_rule.setdefault(rule, {})
            counts[key] = counts.get(key, 0) + 1
            if predicted is None:
                assert outcome[0] == "ok", f"{rule}: model expects success, chain reverts {outcome[1:]}"
            else:
                name, inputs = predicted
                assert outcome[0] == "revert", f"{rule}: model expects {name}{inputs}, chain succeeds"
                assert (outcome[1], outcome[2]) == (name, inputs), (
                    f"{rule}: model expects {name}{inputs}, chain reverts {outcome[1]}{outcome[2]}"
                )

        def probe_without_role(self, rule, account, role, call):
            """The call made by a holder, who never holds the admin's or the upgrader's role."""
            assert role in (ADMIN_ROLE, UPGRADER_ROLE) and account in holders
            self.expect(rule, raw.outcome(account, *call), acl(account, role))

        def assert_clear_of_max_age(self):
            """Blocks run a few seconds ahead of the model's clock: the attestation's age must be
            far from the maximum age for the model to know on which side of it a mint falls."""
            age = self.clock - self.attested_at
            assert abs(age - DAY) > 600, f"attestation age {age} s too close to the maximum age"

        def stale(self):
            return self.attested_at == 0 or self.clock - self.attested_at > DAY

        def predict_transfer(self, sender, to, amount):
            """_transfer's checks, in their order."""
            if to == ZERO_ADDRESS:
                return ("ERC20InvalidReceiver", {"receiver": ZERO_ADDRESS})
            if self.paused:
                return ("TokenPaused", {})
            if sender in self.frozen:
                return ("AccountFrozen", {"account": sender})
            if to in self.frozen:
                return ("AccountFrozen", {"account": to})
            if self.allowlist and to not in self.allowed:
                return ("NotAllowlisted", {"account": to})
            if self.balances[sender] < amount:
                return (
                    "ERC20InsufficientBalance",
                    {"sender": sender, "balance": self.balances[sender], "needed": amount},
                )
            return None

        def move(self, sender, to, amount):
            self.balances[sender] -= amount
            self.balances[to] += amount

        def predict_mint(self, caller, items, batch):
            if batch and not items:
                return ("InvalidBatch", {})
            allowance, max_per_mint, active = self.minters.get(caller, (0, 0, False))
            if not active:
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
                if amount > max_per_mint:
                    return ("MintAboveMaximum", {"amount": amount, "maxPerMint": max_per_mint})
                if to == ZERO_ADDRESS:
                    return ("ERC20InvalidReceiver", {"receiver": ZERO_ADDRESS})
                if to in self.frozen:
                    return ("AccountFrozen", {"account": to})
                if self.allowlist and to not in self.allowed:
                    return ("NotAllowlisted", {"account": to})
                total += amount
            if total > allowance:
                return (
                    "MinterAllowanceExceeded",
                    {"minter": caller, "allowance": allowance, "amount": total},
                )
            if self.stale():
                return ("AttestationStale", {"attestedAt": self.attested_at, "maxAge": DAY})
            if self.supply + total > self.attested:
                return (
                    "ReserveCeilingExceeded",
                    {"supplyAfter": self.supply + total, "attested": self.attested},
                )
            return None

        def apply_mint(self, rule, caller, items, batch):
            if batch:
                sig = "mintBatch(address[],uint256[],bytes32[])"
                args = ([i[0] for i in items], [i[1] for i in items], [i[2] for i in items])
            else:
                sig, args = "mint(address,uint256,bytes32)", items[0]
            predicted = self.predict_mint(caller, items, batch)
            detail = None
            if predicted is None and self.stale_refused:
                detail = "after-stale"  # refused as stale, then attested afresh
                self.stale_refused = False
            elif predicted is not None and predicted[0] == "AttestationStale":
                self.stale_refused = True
            elif predicted == ("NotMinter", {"caller": roles["minter"]}):
                detail = "removed"
            self.expect(rule, raw.outcome(caller, sig, *args), predicted, detail)
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
                self.minters[caller][0] -= amount
                self.minted.add(deposit)
                self.checked_ids.add(deposit)
            supply, attested = raw.views(
                [
                    ("totalSupply()", (), ["uint256"]),
                    ("reserveAttestation()", (), ["uint256", "uint64", "bytes32", "bytes32"]),
                ]
            )
            assert supply <= attested[0], "supply above the attested reserves after a mint"

        def free(self):
            """The holders who are not frozen."""
            return [h for h in holders if h not in self.frozen]

        def receivers(self):
            """The holders who may receive (not frozen, allowlisted in allowlist mode)."""
            return [h for h in self.free() if not self.allowlist or h in self.allowed]

        def mint_one(self, caller):
            """A mint of 1 under a new deposit id to a holder that may receive it, if any."""
            self.fresh_ids += 1
            deposit = dep_id(10_000 + self.fresh_ids)
            self.apply_mint("mint", caller, [((self.receivers() or holders)[0], 1, deposit)], batch=False)

        def predict_permit(self, owner, spender, deadline, nonce, signer):
            if self.paused:
                return ("TokenPaused", {})
            if self.clock > deadline:
                return ("PermitExpired", {"deadline": deadline})
            if owner in self.frozen:
                return ("AccountFrozen", {"account": owner})
            if signer != owner or nonce != self.nonces[owner]:
                return ("InvalidSignature", {})
            if spender == ZERO_ADDRESS:
                return ("ERC20InvalidSpender", {"spender": ZERO_ADDRESS})
            if spender in self.frozen:
                return ("AccountFrozen", {"account": spender})
            return None

        def submit_permit(self, rule, relayer, permit, detail=None):
            owner, spender, value, deadline, nonce, signer, sig = permit
            predicted = self.predict_permit(owner, spender, deadline, nonce, signer)
            args = (owner, spender, value, deadline, *sig.vrs())
            if predicted != ("InvalidSignature", {}):
                detail = None
            self.expect(rule, raw.outcome(relayer, PERMIT, *args), predicted, detail)
            if predicted is None:
                raw.send(relayer, PERMIT, *args)
                self.nonces[owner] += 1
                self.allowances[(owner, spender)] = value
                self.used_permits.append(permit)

        def window(self, kind, unbounded):
            """(validAfter, validBefore) an hour or more away from the clock."""
            if kind == "open":
                return (0, MAX_UINT256) if unbounded else (self.clock - HOUR, self.clock + HOUR)
            if kind == "not-yet":
                return (self.clock + HOUR, self.clock + 2 * HOUR)
            return (self.clock - 2 * HOUR, self.clock - HOUR)

        def maybe_known_nonce(self, data, authorizer, nonce):
            """One time in three, a nonce of the authorizer's that the model knows is used or
            cancelled."""
            known = sorted(n for a, n in self.authorizations if a == authorizer)
            if known and data.draw(st.integers(0, 2), label="reuse a known nonce") == 0:
                return data.draw(st.sampled_from(known), label="known nonce")
            return nonce

        def authorization_call(self, rule, src, to, value, window, nonce, signer):
            """The signed call: (signature, arguments...)."""
            receive = rule == "receive_with_authorization"
            primary = "ReceiveWithAuthorization" if receive else "TransferWithAuthorization"
            after, before = window
            sig = sign(
                keys[signer],
                authorization_message(primary, chain_id, raw.address, src, to, value, after, before, nonce),
            )
            self.checked_authorizations.add((src, nonce))
            call = (RECEIVE_WITH_AUTHORIZATION if receive else TRANSFER_WITH_AUTHORIZATION,)
            return call + (src, to, value, after, before, nonce, *sig.vrs())

        def use_authorization(self, rule, caller, src, to, value, window, nonce, signer):
            """transferWithAuthorization, or receiveWithAuthorization when rule says so, followed
            by the refusals it implies."""
            params = (src, to, value, window, nonce, signer)
            call = self.authorization_call(rule, *params)
            if self.submit_authorization(rule, caller, call, *params):
                # used once, refused ever after
                self.probe_authorization(rule, caller, call, *params)
            if rule == "receive_with_authorization":
                # only the payee may submit it
                others = [h for h in holders if h != to]
                self.probe_authorization(rule, others[0], call, *params)
            else:
                # outside its window it is refused
                for kind in ("not-yet", "over"):
                    params = (src, to, value, self.window(kind, False), nonce, signer)
                    self.probe_authorization(rule, caller, self.authorization_call(rule, *params), *params)

        def probe_authorization(self, rule, *args):
            """An authorization the model expects to be refused."""
            assert not self.submit_authorization(rule, *args)

        def submit_authorization(self, rule, caller, call, src, to, value, window, nonce, signer):
            """Predicts, checks and (if the model predicts success) sends an authorization; True if
            it was sent."""
            receive = rule == "receive_with_authorization"
            after, before = window
            predicted, detail = None, None
            if receive and caller != to:
                predicted = ("CallerNotPayee", {"caller": caller, "payee": to})
            elif self.clock <= after:
                predicted = ("AuthorizationNotYetValid", {"validAfter": after})
            elif self.clock >= before:
                predicted = ("AuthorizationExpired", {"validBefore": before})
            elif (src, nonce) in self.authorizations:
                predicted = ("AuthorizationAlreadyUsed", {"authorizer": src, "nonce": nonce})
                detail = self.authorizations[(src, nonce)]
            elif signer != src:
                predicted = ("InvalidSignature", {})
            else:
                predicted = self.predict_transfer(src, to, value)
            self.expect(rule, raw.outcome(caller, *call), predicted, detail)
            if predicted is None:
                raw.send(caller, *call)
                self.authorizations[(src, nonce)] = "used"
                self.move(src, to, value)
            return predicted is None

        # ---------------------------------------------------------------- rules: minting

        @rule(
            to=recipient,
            amount=amounts,
            deposit=deposit_ids,
            caller=st.sampled_from(["minter", "minter", "minter", "admin", "holder"]),
            holder=holder_idx,
        )
        def mint(self, to, amount, deposit, caller, holder):
            caller = holders[holder] if caller == "holder" else roles[caller]
            self.apply_mint("mint", caller, [(to, amount, deposit)], batch=False)

        @rule(items=batches)
        def mint_batch(self, items):
            self.apply_mint("mint_batch", roles["minter"], items, batch=True)

        @rule(allowance=st.one_of(st.integers(0, 2_000), wide), by_admin=st.integers(0, 5), holder=holder_idx)
        def configure_minter(self, allowance, by_admin, holder):
            call = ("configureMinter(address,uint256,uint256)", roles["minter"], allowance, MAX_PER_MINT)
            self.probe_without_role("configure_minter", holders[holder], ADMIN_ROLE, call)
            self.reconfigure_minter(roles["admin"] if by_admin else holders[holder], allowance)

        def reconfigure_minter(self, caller, allowance):
            call = ("configureMinter(address,uint256,uint256)", roles["minter"], allowance, MAX_PER_MINT)
            predicted, detail = None, None
            if caller != roles["admin"]:
                predicted = acl(caller, ADMIN_ROLE)
            elif allowance > MAX_UINT128:
                # stored as uint128: anything larger is refused, and nothing changes
                predicted = ("AmountTooLarge", {"amount": allowance})
            elif not self.minters[roles["minter"]][2]:
                detail = "re-added"
            self.expect("configure_minter", raw.outcome(caller, *call), predicted, detail)
            if predicted is None:
                raw.send(caller, *call)
                self.minters[roles["minter"]] = [allowance, MAX_PER_MINT, True]
                self.members[MINTER_ROLE].add(roles["minter"])

        @rule(
            who=st.sampled_from(["minter", "minter", "holder"]),
            by_admin=st.integers(0, 3),
            holder=holder_idx,
            readd=st.booleans(),
            allowance=st.integers(1, 2_000),
        )
        def remove_minter(self, who, by_admin, holder, readd, allowance):
            target = holders[holder] if who == "holder" else roles[who]
            caller = roles["admin"] if by_admin else holders[(holder + 1) % len(holders)]
            self.probe_without_role(
                "remove_minter", holders[holder], ADMIN_ROLE, ("removeMinter(address)", target)
            )
            predicted = None if caller == roles["admin"] else acl(caller, ADMIN_ROLE)
            self.expect("remove_minter", raw.outcome(caller, "removeMinter(address)", target), predicted)
            if predicted is None:
                raw.send(caller, "removeMinter(address)", target)
                self.minters[target] = [0, 0, False]
                self.members[MINTER_ROLE].discard(target)
                if target == roles["minter"]:
                    # the removed minter's mint is refused; re-added with a new allowance, it mints
                    self.mint_one(roles["minter"])
                    if readd:
                        self.reconfigure_minter(roles["admin"], allowance)
                        self.mint_one(roles["minter"])

        @rule(
            role=st.sampled_from(MANAGED_ROLES),
            account=st.sampled_from(role_candidates),
            grant=st.booleans(),
            by_admin=st.integers(0, 2),
            other=st.sampled_from([roles["pauser"], *holders]),
        )
        def change_role(self, role, account, grant, by_admin, other):
            caller = roles["admin"] if by_admin else other
            sig = "grantRole(bytes32,address)" if grant else "revokeRole(bytes32,address)"
            self.probe_without_role("change_role", holders[-1], ADMIN_ROLE, (sig, role, account))
            predicted = None if caller == roles["admin"] else acl(caller, ADMIN_ROLE)
            conflict = {MINTER_ROLE: ATTESTOR_ROLE, ATTESTOR_ROLE: MINTER_ROLE}.get(role)
            if predicted is None and grant and conflict and account in self.members[conflict]:
                predicted = ("RolesConflict", {"account": account, "role": role, "heldRole": conflict})
            detail = ("grant" if grant else "revoke") if predicted is None else None
            self.expect("change_role", raw.outcome(caller, sig, role, account), predicted, detail)
            if predicted is None:
                raw.send(caller, sig, role, account)
                if grant:
                    if role == MINTER_ROLE and account not in self.members[role]:
                        # a new minter is active with its (empty) configuration
                        self.minters[account][2] = True
                    self.members[role].add(account)
                else:
                    if role == MINTER_ROLE:
                        self.minters[account] = [0, 0, False]
                    self.members[role].discard(account)

        # ---------------------------------------------------------------- rules: movements

        @rule(sender=holder_idx, to=recipient, amount=spend)
        def transfer(self, sender, to, amount):
            sender = holders[sender]
            predicted = self.predict_transfer(sender, to, amount)
            self.expect("transfer", raw.outcome(sender, "transfer(address,uint256)", to, amount), predicted)
            if predicted is None:
                raw.send(sender, "transfer(address,uint256)", to, amount)
                self.move(sender, to, amount)

        @rule(owner=holder_idx, spender=recipient, amount=approvals)
        def approve(self, owner, spender, amount):
            owner = holders[owner]
            self.approve_as(owner, spender, amount)
            if amount == MAX_UINT256 and self.allowances.get((owner, spender)) == MAX_UINT256:
                # an unlimited allowance is used at once (half the owner's balance) and stays
                to = (self.receivers() or holders)[0]
                self.submit_transfer_from(spender, owner, to, self.balances[owner] // 2)

        def approve_as(self, owner, spender, amount):
            predicted = None
            if self.paused:
                predicted = ("TokenPaused", {})
            elif owner in self.frozen:
                predicted = ("AccountFrozen", {"account": owner})
            elif spender == ZERO_ADDRESS:
                predicted = ("ERC20InvalidSpender", {"spender": ZERO_ADDRESS})
            elif spender in self.frozen:
                predicted = ("AccountFrozen", {"account": spender})
            call = ("approve(address,uint256)", spender, amount)
            self.expect("approve", raw.outcome(owner, *call), predicted)
            if predicted is None:
                raw.send(owner, *call)
                self.allowances[(owner, spender)] = amount

        @rule(spender=holder_idx, owner=holder_idx, to=recipient, data=st.data())
        def transfer_from(self, spender, owner, to, data):
            spender, owner = holders[spender], holders[owner]
            # "unlimited": under an unlimited allowance between accounts that are not frozen (granted
            # first if there is none); "known": under any allowance the model knows; both to one
            # who may receive and within the limits. "any": the drawn accounts and amounts.
            mode = data.draw(st.sampled_from(["unlimited", "known", "any"]), label="mode")
            free = [p for p, a in sorted(self.allowances.items()) if a and not self.frozen & set(p)]
            if mode == "unlimited" and len(self.free()) > 1:
                unlimited = [p for p in free if self.allowances[p] == MAX_UINT256]
                if not unlimited:
                    pair = data.draw(st.permutations(self.free()), label="owner, spender")[:2]
                    self.approve_as(pair[0], pair[1], MAX_UINT256)
                    unlimited = [tuple(pair)] if self.allowances.get(tuple(pair)) == MAX_UINT256 else []
                free = unlimited or free
            if mode != "any" and free:
                owner, spender = data.draw(st.sampled_from(free), label="owner, spender")
                to = data.draw(st.sampled_from(self.receivers() or holders), label="to")
            allowance = self.allowances.get((owner, spender), 0)
            limit = min(allowance, self.balances[owner])
            amount = data.draw(
                st.integers(0, limit)
                if mode != "any"
                else st.one_of(around(limit), st.just(min(allowance + 1, MAX_UINT256))),
                label="amount",
            )
            self.submit_transfer_from(spender, owner, to, amount)
            left = self.allowances.get((owner, spender), 0)
            if left != MAX_UINT256:
                # one unit more than the allowance left is refused
                assert not self.submit_transfer_from(spender, owner, to, left + 1)

        def submit_transfer_from(self, spender, owner, to, amount):
            """Predicts, checks and (if the model predicts success) sends a transferFrom; True if
            it was sent."""
            allowance = self.allowances.get((owner, spender), 0)
            predicted, detail = None, None
            if spender in self.frozen:
                predicted = ("AccountFrozen", {"account": spender})
            elif allowance != MAX_UINT256 and allowance < amount:
                predicted = (
                    "ERC20InsufficientAllowance",
                    {"spender": spender, "allowance": allowance, "needed": amount},
                )
            else:
                predicted = self.predict_transfer(owner, to, amount)
                if allowance == MAX_UINT256:
                    detail = "infinite"
            call = ("transferFrom(address,address,uint256)", owner, to, amount)
            self.expect("transfer_from", raw.outcome(spender, *call), predicted, detail)
            if predicted is None:
                raw.send(spender, *call)
                if allowance != MAX_UINT256:
                    self.allowances[(owner, spender)] = allowance - amount
                self.move(owner, to, amount)
            return predicted is None

        @rule(
            owner=holder_idx,
            spender=recipient,
            value=approvals,
            kind=st.sampled_from(["valid", "valid", "expired", "wrong-signer"]),
            forever=st.booleans(),
            relayer=holder_idx,
        )
        def permit(self, owner, spender, value, kind, forever, relayer):
            relayer = holders[relayer]
            permit = self.build_permit(owner, spender, value, kind, forever)
            self.submit_permit("permit", relayer, permit, detail=kind)
            # the same permit past its deadline or signed by another key is refused; so is a
            # replay of one that went through (its nonce is used)
            for probe in ("expired", "wrong-signer"):
                if probe != kind:
                    self.probe_permit(
                        "permit", relayer, self.build_permit(owner, spender, value, probe, forever)
                    )
            if self.used_permits and self.used_permits[-1] is permit:
                self.probe_permit("permit_replay", relayer, permit)

        def build_permit(self, owner, spender, value, kind, forever):
            """A permit over the owner's current nonce (signed by the next holder for
            "wrong-signer"), with a deadline an hour past ("expired"), an hour ahead or never."""
            owner_address = holders[owner]
            signer = holders[(owner + 1) % len(holders)] if kind == "wrong-signer" else owner_address
            if kind == "expired":
                deadline = self.clock - HOUR
            else:
                deadline = MAX_UINT256 if forever else self.clock + HOUR
            nonce = self.nonces[owner_address]
            sig = sign(
                keys[signer],
                permit_message(chain_id, raw.address, owner_address, spender, value, nonce, deadline),
            )
            return (owner_address, spender, value, deadline, nonce, signer, sig)

        def probe_permit(self, rule, relayer, permit):
            """A permit the model expects to be refused."""
            owner, spender, _, deadline, nonce, signer, _ = permit
            assert self.predict_permit(owner, spender, deadline, nonce, signer) is not None
            self.submit_permit(rule, relayer, permit, detail="wrong-signer" if signer != owner else None)

        @precondition(lambda self: self.used_permits)
        @rule(data=st.data(), relayer=holder_idx)
        def permit_replay(self, data, relayer):
            # mostly one that is still within its deadline and whose owner is not frozen
            live = [p for p in self.used_permits if p[3] >= self.clock and p[0] not in self.frozen]
            pool = live if live and data.draw(st.integers(0, 3), label="live") else self.used_permits
            permit = data.draw(st.sampled_from(pool), label="permit")
            self.submit_permit("permit_replay", holders[relayer], permit)

        def draw_authorization(self, data, src, to, window, unbounded, nonce, wrong, friendly=False):
            """An authorization's parameters. Friendly: from a holder who is not frozen to one who
            may receive, within the balance, in an open window, under a nonce not used yet, so
            that the transfer's own checks are reached. Otherwise one time in four each the same
            under a nonce the model knows is used or cancelled (cancelled first if need be), in a
            window not open yet, in one that is over, or anything."""
            mode = "friendly" if friendly else data.draw(st.sampled_from(["reuse", "not-yet", "over", "any"]))
            if mode != "any":
                src = data.draw(st.sampled_from(self.free() or holders), label="from")
                to = data.draw(st.sampled_from(self.receivers() or holders), label="to")
                value = data.draw(st.integers(0, self.balances[src]), label="value")
                unused = [n for n in AUTH_NONCES if (src, n) not in self.authorizations]
                used = sorted(n for (a, n), how in self.authorizations.items() if a == src and how == "used")
                if mode == "reuse" and used and data.draw(st.booleans(), label="reuse a used nonce"):
                    nonce = data.draw(st.sampled_from(used), label="used nonce")
                elif mode == "reuse":
                    # an authorization cancelled before it is used
                    nonce = data.draw(st.binary(min_size=32, max_size=32), label="nonce")
                    self.cancel(holders[0], src, nonce, src)
                elif unused:
                    nonce = unused[0]
                window = "open" if mode in ("friendly", "reuse") else mode
                return src, to, value, self.window(window, unbounded), nonce, src
            signer = holders[(src + 1) % len(holders)] if wrong else holders[src]
            src = holders[src]
            nonce = self.maybe_known_nonce(data, src, nonce)
            value = data.draw(around(self.balances[src]), label="value")
            return src, to, value, self.window(window, unbounded), nonce, signer

        @rule(
            src=holder_idx,
            to=recipient,
            window=windows,
            unbounded=st.booleans(),
            nonce=auth_nonces,
            wrong=wrong_key,
            relayer=holder_idx,
            data=st.data(),
        )
        def transfer_with_authorization(self, src, to, window, unbounded, nonce, wrong, relayer, data):
            # one drawn authorization, then one that should reach the transfer's own checks
            for friendly in (False, True):
                params = self.draw_authorization(data, src, to, window, unbounded, nonce, wrong, friendly)
                self.use_authorization("transfer_with_authorization", holders[relayer], *params)

        @rule(
            src=holder_idx,
            to=recipient,
            window=windows,
            unbounded=st.booleans(),
            nonce=auth_nonces,
            wrong=wrong_key,
            by_payee=st.integers(0, 3),
            other=holder_idx,
            data=st.data(),
        )
        def receive_with_authorization(self, src, to, window, unbounded, nonce, wrong, by_payee, other, data):
            # one drawn authorization, then one that should reach the transfer's own checks
            for friendly in (False, True):
                params = self.draw_authorization(data, src, to, window, unbounded, nonce, wrong, friendly)
                payee = params[1]
                by_payee = by_payee or friendly
                caller = payee if by_payee and payee != ZERO_ADDRESS else holders[other]
                self.use_authorization("receive_with_authorization", caller, *params)

        @rule(authorizer=holder_idx, nonce=auth_nonces, wrong=wrong_key, relayer=holder_idx, data=st.data())
        def cancel_authorization(self, authorizer, nonce, wrong, relayer, data):
            signer = holders[(authorizer + 1) % len(holders)] if wrong else holders[authorizer]
            authorizer = holders[authorizer]
            nonce = self.maybe_known_nonce(data, authorizer, nonce)
            if self.cancel(holders[relayer], authorizer, nonce, signer):
                # cancelled: refused as a cancellation and as an authorization
                self.cancel(holders[relayer], authorizer, nonce, signer)
                params = (authorizer, holders[0], 0, self.window("open", True), nonce, authorizer)
                rule = "transfer_with_authorization"
                self.probe_authorization(
                    rule, holders[relayer], self.authorization_call(rule, *params), *params
                )

        def cancel(self, relayer, authorizer, nonce, signer):
            self.checked_authorizations.add((authorizer, nonce))
            sig = sign(keys[signer], cancel_message(chain_id, raw.address, authorizer, nonce))
            predicted, detail = None, None
            if self.paused:
                predicted = ("TokenPaused", {})
            elif (authorizer, nonce) in self.authorizations:
                predicted = ("AuthorizationAlreadyUsed", {"authorizer": authorizer, "nonce": nonce})
                detail = self.authorizations[(authorizer, nonce)]
            elif signer != authorizer:
                predicted = ("InvalidSignature", {})
            call = (CANCEL_AUTHORIZATION, authorizer, nonce, *sig.vrs())
            self.expect("cancel_authorization", raw.outcome(relayer, *call), predicted, detail)
            if predicted is None:
                raw.send(relayer, *call)
                self.authorizations[(authorizer, nonce)] = "cancelled"
            return predicted is None

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
                    "ERC20InsufficientBalance",
                    {"sender": holder, "balance": self.balances[holder], "needed": amount},
                )
            outcome = raw.outcome(holder, "redeem(uint256,bytes32)", amount, ref)
            self.expect("redeem", outcome, predicted)
            if predicted is None:
                assert abi_decode(["uint256"], outcome[1])[0] == self.redemptions + 1
                receipt = raw.send(holder, "redeem(uint256,bytes32)", amount, ref)
                (log,) = logs_with_topic(receipt, raw.address, REDEMPTION_TOPIC)
                assert int(log["topics"][1], 16) == self.redemptions + 1
                self.redemptions += 1
                self.balances[holder] -= amount
                self.supply -= amount

        # ---------------------------------------------------------------- rules: compliance

        @rule(holder=holder_idx)
        def freeze(self, holder):
            holder = holders[holder]
            self.expect("freeze", raw.outcome(roles["compliance"], "freeze(address)", holder), None)
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
            self.expect("wipe", outcome, predicted)
            if predicted is None:
                assert abi_decode(["uint256"], outcome[1])[0] == self.balances[holder]
                raw.send(roles["compliance"], "wipeFrozen(address)", holder)
                self.supply -= self.balances[holder]
                # the ceiling goes down with the wiped tokens
                self.attested = max(self.attested - self.balances[holder], 0)
                self.balances[holder] = 0
                self.frozen_balances[holder] = 0

        @rule(on=st.booleans())
        def set_allowlist(self, on):
            raw.send(roles["compliance"], "setAllowlistEnabled(bool)", on)
            self.allowlist = on

        @rule(holder=holder_idx, allowed=st.booleans())
        def set_allowed(self, holder, allowed):
            raw.send(roles["compliance"], "setAllowed(address,bool)", holders[holder], allowed)
            (self.allowed.add if allowed else self.allowed.discard)(holders[holder])

        # ---------------------------------------------------------------- rules: reserves, time

        @rule(
            delta=st.integers(-300, 1_500),
            anywhere=st.one_of(st.none(), wide),
            by_attestor=st.integers(0, 5),
            holder=holder_idx,
        )
        def attest(self, delta, anywhere, by_attestor, holder):
            caller = roles["attestor"] if by_attestor else holders[holder]
            # below the supply when delta < 0; or any uint256 (the ceiling is a uint128)
            amount = max(0, self.supply + delta) if anywhere is None else anywhere
            call = ("attestReserves(uint256,bytes32,bytes32)", amount, b32("report"), b32("head"))
            predicted = None
            if caller not in self.members[ATTESTOR_ROLE]:
                predicted = acl(caller, ATTESTOR_ROLE)
            elif amount > MAX_UINT128:
                predicted = ("AmountTooLarge", {"amount": amount})
            self.expect("attest", raw.outcome(caller, *call), predicted)
            if predicted is None:
                receipt = raw.send(caller, *call)
                self.attested, self.attested_at = amount, raw.timestamp_of(receipt)
                self.clock = self.attested_at

        @rule(seconds=st.sampled_from([7 * HOUR, DAY + HOUR]))
        def time_passes(self, seconds):
            # seven hours, or beyond the maximum age: sums of these stay hours away from DAY
            chain.provider.web3.provider.make_request("evm_increaseTime", [seconds])
            chain.provider.web3.provider.make_request("evm_mine", [])
            self.clock = raw.latest_timestamp()
            self.assert_clear_of_max_age()

        @rule(refresh=st.integers(0, 3))
        def attestation_goes_stale(self, refresh):
            """Time passes beyond the maximum age: the minter's mint is refused as stale; after a
            fresh attestation (most of the time) it mints again."""
            self.time_passes(DAY + HOUR)
            self.mint_one(roles["minter"])
            if refresh:
                self.attest(1_000, None, 1, 0)
                self.mint_one(roles["minter"])

        # ---------------------------------------------------------------- rules: pauses, upgrades

        @rule(
            which=st.sampled_from(["", "Minting", "Redemptions"]),
            on=st.sampled_from([True, False, False]),
            by_pauser=st.integers(0, 5),
            holder=holder_idx,
        )
        def set_pause(self, which, on, by_pauser, holder):
            caller = roles["pauser"] if by_pauser else holders[holder]
            sig = f"{'pause' if on else 'unpause'}{which}()"
            predicted = None if caller in self.members[PAUSER_ROLE] else acl(caller, PAUSER_ROLE)
            self.expect("set_pause", raw.outcome(caller, sig), predicted)
            if predicted is None:
                raw.send(caller, sig)
                flag = {"": "paused", "Minting": "minting_paused", "Redemptions": "redemptions_paused"}
                setattr(self, flag[which], on)

        @rule(
            version=st.sampled_from(["v2", "v2", "v1"]),
            caller=st.sampled_from(["upgrader", "upgrader", "upgrader", "admin", "pauser"]),
        )
        def upgrade(self, version, caller):
            caller = roles[caller]
            call = ("upgradeToAndCall(address,bytes)", implementations[version], b"")
            self.probe_without_role("upgrade", holders[0], UPGRADER_ROLE, call)
            predicted = None if caller == roles["upgrader"] else acl(caller, UPGRADER_ROLE)
            self.expect("upgrade", raw.outcome(caller, *call), predicted)
            if predicted is None:
                raw.send(caller, *call)
                self.implementation = version
                if version == "v2":
                    assert raw.view("generation()") == 2

        # ---------------------------------------------------------------- invariants

        @invariant()
        def chain_agrees_with_model(self):
            steps["steps"] += 1
            ids = sorted(self.checked_ids)
            auths = sorted(self.checked_authorizations)
            pairs = [(o, s) for o in holders for s in holders]
            members = [(r, a) for r in MANAGED_ROLES for a in role_candidates]
            checks = (
                [
                    (("supply",), "totalSupply()", (), ["uint256"]),
                    (("redemptions",), "redemptionCount()", (), ["uint256"]),
                    (("paused",), "paused()", (), ["bool"]),
                    (("minting_paused",), "mintingPaused()", (), ["bool"]),
                    (("redemptions_paused",), "redemptionsPaused()", (), ["bool"]),
                    (("allowlist",), "allowlistEnabled()", (), ["bool"]),
                    (
                        ("attestation",),
                        "reserveAttestation()",
                        (),
                        ["uint256", "uint64", "bytes32", "bytes32"],
                    ),
                ]
                + [(("balance", h), "balanceOf(address)", (h,), ["uint256"]) for h in holders]
                + [(("frozen", h), "isFrozen(address)", (h,), ["bool"]) for h in holders]
                + [(("allowed", h), "isAllowed(address)", (h,), ["bool"]) for h in holders]
                + [(("nonce", h), "nonces(address)", (h,), ["uint256"]) for h in holders]
                + [(("allowance", p), "allowance(address,address)", p, ["uint256"]) for p in pairs]
                + [(("minter", m), "minterAllowance(address)", (m,), ["uint256"]) for m in minter_candidates]
                + [
                    (("max_per_mint", m), "minterMaxPerMint(address)", (m,), ["uint256"])
                    for m in minter_candidates
                ]
                + [(("active", m), "isMinter(address)", (m,), ["bool"]) for m in minter_candidates]
                + [(("role", ra), "hasRole(bytes32,address)", ra, ["bool"]) for ra in members]
                + [(("deposit", d), "isDepositMinted(bytes32)", (d,), ["bool"]) for d in ids]
                + [(("authorization", a), "authorizationState(address,bytes32)", a, ["bool"]) for a in auths]
            )
            got = dict(
                zip(
                    [c[0] for c in checks],
                    raw.views([c[1:] for c in checks]),
                    strict=True,
                )
            )
            balances = {h: got[("balance", h)] for h in holders}

            assert got[("supply",)] == sum(balances.values()), "supply differs from the sum of balances"
            assert got[("supply",)] == self.supply
            assert balances == self.balances
            assert got[("redemptions",)] == self.redemptions
            flags = ("paused", "minting_paused", "redemptions_paused", "allowlist")
            assert [got[(f,)] for f in flags] == [getattr(self, f) for f in flags]
            assert got[("attestation",)][:2] == (self.attested, self.attested_at)
            assert {h for h in holders if got[("frozen", h)]} == self.frozen
            assert {h for h in holders if got[("allowed", h)]} == self.allowed
            assert {h: got[("nonce", h)] for h in holders} == self.nonces
            assert {p: got[("allowance", p)] for p in pairs} == {p: self.allowances.get(p, 0) for p in pairs}
            assert {
                m: [got[("minter", m)], got[("max_per_mint", m)], got[("active", m)]]
                for m in minter_candidates
            } == self.minters
            assert {ra for ra in members if got[("role", ra)]} == {
                (r, a) for r in MANAGED_ROLES for a in self.members[r] if a in role_candidates
            }
            assert {d for d in ids if got[("deposit", d)]} == self.minted
            assert {a for a in auths if got[("authorization", a)]} == set(self.authorizations)
            assert raw.implementation() == implementations[self.implementation]
            for holder, balance in self.frozen_balances.items():
                assert balances[holder] == balance, f"frozen balance of {holder} moved"

    run_state_machine_as_test(
        TokenModel,
        settings=settings(
            max_examples=100,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print("\nstateful outcomes:", steps, dict(sorted(outcomes.items())))
    for rule_name, counts in sorted(by_rule.items()):
        print(f"  {rule_name} ({sum(counts.values())}): {dict(sorted(counts.items()))}")
    missing = [
        f"{rule_name}: {label}"
        for rule_name, labels in REQUIRED_OUTCOMES.items()
        for label in labels
        if not any(key == label or key.startswith(label + "/") for key in by_rule.get(rule_name, {}))
    ]
    assert not missing, f"outcomes that never occurred: {missing}"

"""Imports every domain's models so `Base.metadata` is complete (Alembic, tests)."""

from service.allowlist.models import AllowlistEntry
from service.audit.models import AuditEntry, AuditHead
from service.banks.models import Approval, Bank, BankApiKey, BankDailyUsage, BankSigningKey, Operator
from service.chain.cursor import ChainCursor
from service.db import Base
from service.deposits.models import Deposit, MintBatch
from service.ledger.models import LedgerAccount, LedgerLine, LedgerPosting
from service.ops.heartbeats import WorkerHeartbeat
from service.quota.models import BeneficiaryLock, QuotaUsage, WatchListEntry
from service.redemptions.models import Payout, PayoutAccount
from service.reserves.models import CustodyStatement, MintingHalt, ReserveReport
from service.snapshots.models import SnapshotLiability, TransparencySnapshot
from service.travel_rule.models import TravelRuleRecord
from service.webhooks.models import WebhookDelivery

__all__ = [
    "AllowlistEntry",
    "Approval",
    "AuditEntry",
    "AuditHead",
    "Bank",
    "BankApiKey",
    "BankDailyUsage",
    "BankSigningKey",
    "Base",
    "BeneficiaryLock",
    "ChainCursor",
    "CustodyStatement",
    "Deposit",
    "LedgerAccount",
    "LedgerLine",
    "LedgerPosting",
    "MintBatch",
    "MintingHalt",
    "Operator",
    "SnapshotLiability",
    "TransparencySnapshot",
    "TravelRuleRecord",
    "Payout",
    "PayoutAccount",
    "QuotaUsage",
    "ReserveReport",
    "WatchListEntry",
    "WebhookDelivery",
    "WorkerHeartbeat",
]

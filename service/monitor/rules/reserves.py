"""Reserve and source rules: one custodian bank holding too large a share of the reserves, and a
public source the monitor could not read for too long."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import Field

from service.monitor.model import Draft, Observation
from service.monitor.rules.base import Amount, Params, Percent, RuleBase, Seconds, register


class ConcentrationParams(Params):
    max_percent: Percent
    min_total: Amount = Decimal(0)  # dollars: smaller reserves are not judged


def _custody(fields: Mapping[str, Any]) -> list[tuple[str, Decimal]] | None:
    body = fields.get("snapshot", fields)
    reserves = body.get("reserves") if isinstance(body, Mapping) else None
    custody = reserves.get("custody") if isinstance(reserves, Mapping) else None
    if not isinstance(custody, list):
        return None
    out = []
    for item in custody:
        try:
            out.append((str(item["bank"]), Decimal(str(item["amount"]))))
        except (KeyError, TypeError, InvalidOperation):
            continue
    return out


@register("custodian_concentration", ConcentrationParams, ("snapshot",))
class CustodianConcentration(RuleBase[ConcentrationParams]):
    """A snapshot (signature verified) whose reserves custody puts more than `max_percent` of the
    total at one bank; once per bank while it stays above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.above: set[str] = set()
        super().__init__(*args, **kwargs)

    def check(self, obs: Observation) -> Iterable[Draft]:
        if obs.fields.get("signature_ok") is False:
            return ()
        custody = _custody(obs.fields)
        if custody is None:
            return ()
        total = sum((amount for _, amount in custody), Decimal(0))
        if total <= 0 or total < self.params.min_total:
            return ()
        drafts = []
        now_above = set()
        for bank, amount in custody:
            share = amount * 100 / total
            if share <= self.params.max_percent:
                continue
            now_above.add(bank)
            if bank in self.above:
                continue
            drafts.append(
                Draft(
                    f"{bank} holds {share.quantize(Decimal('0.01'))}% of the reserves "
                    f"(limit {self.params.max_percent}%)",
                    {
                        "bank": bank,
                        "amount": str(amount),
                        "total": str(total),
                        "percent": str(share.quantize(Decimal("0.01"))),
                        "max_percent": str(self.params.max_percent),
                        "snapshot": obs.fields.get("id"),
                    },
                    part=bank,
                )
            )
        self.above = now_above
        return drafts


SOURCES: tuple[Literal["chain", "service"], ...] = ("chain", "service")


class SourceDownParams(Params):
    after: Seconds = 60
    sources: list[Literal["chain", "service"]] = Field(default_factory=lambda: list(SOURCES))


@register("source_down", SourceDownParams, ("source_down",))
class SourceDown(RuleBase[SourceDownParams]):
    """A source (`chain`, `service`) unreachable for `after` seconds or more; once per outage
    (`since`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.reported: set[tuple[str, Any]] = set()
        super().__init__(*args, **kwargs)

    def check(self, obs: Observation) -> Iterable[Draft]:
        f = obs.fields
        source, since, seconds = f.get("source"), f.get("since"), f.get("seconds")
        if source not in self.params.sources or not isinstance(seconds, int | float):
            return ()
        if seconds < self.params.after or (source, since) in self.reported:
            return ()
        self.reported.add((str(source), since))
        return (
            Draft(
                f"{source} unreachable for {int(seconds)} s: {f.get('error')}",
                {"source": source, "since": since, "seconds": int(seconds), "error": f.get("error")},
                part=str(source),
            ),
        )

"""The simulator's campaigns and analytics (FIXNADO-API.md §7-§8): the part of the in-memory store that ads and
analytics flows touch, kept apart from `store.py`'s users, zones, bookings and conversations.

`Store` inherits these methods (a mixin: they read the store's own records and caps); the product's fraud
thresholds and spend targets are the module's helpers below.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import backend as c
from .errors import not_found
from .records import CampaignState, _Bounded, now_iso
from .validation import iso


class CampaignRecords:
    """Campaigns, their metric rows and fraud signals, and the analytics dashboard's totals."""

    # ------------------------------------------------------------------ campaigns
    def company(self, company_id: Any) -> dict[str, Any] | None:
        return self.companies.get(company_id) if isinstance(company_id, str) else None

    def create_campaign(self, fields: dict[str, Any]) -> dict[str, Any]:
        stamp = now_iso()
        campaign = {"id": self.new_id(), **fields, "createdAt": stamp, "updatedAt": stamp}
        self.campaigns.add(campaign["id"], campaign)
        self.campaign_state[campaign["id"]] = CampaignState(
            _Bounded(self.limits.metrics_per_campaign),
            _Bounded(self.limits.signals_per_campaign, lambda _, signal: self.signal_index.pop(signal["id"], None)),
        )
        return campaign

    def _drop_campaign(self, campaign_id: str, _: Any) -> None:
        state = self.campaign_state.pop(campaign_id, None)
        for signal in state.signals.values() if state else ():
            self.signal_index.pop(signal["id"], None)

    def _relations(self, campaign: dict[str, Any]) -> dict[str, Any]:
        company = self.companies.get(campaign["companyId"]) or {}
        return {
            **campaign,
            "flights": [],
            "targetingRules": [],
            "invoices": [],
            "Company": {k: company.get(k) for k in ("id", "legalStructure", "verified")},
        }

    def list_campaigns(self, company_id: str | None, status: str | None, limit: int, offset: int) -> list[Any]:
        matches = [
            cp
            for cp in sorted(self.campaigns.values(), key=lambda cp: cp["updatedAt"], reverse=True)
            if (not company_id or cp["companyId"] == company_id) and (not status or cp["status"] == status)
        ]
        return [self._relations(cp) for cp in matches[offset : offset + limit]]

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            raise not_found("Campaign not found", "campaignId")
        return campaign

    def record_metrics(self, campaign: dict[str, Any], when: datetime, figures: dict[str, Any]) -> dict[str, Any]:
        """recordCampaignDailyMetrics (campaignService.js:547-683) as intended: upsert on the exact metricDate,
        the spend target, the product's anomaly rules, signals opened / re-opened / resolved."""
        state = self.campaign_state[campaign["id"]]
        key = iso(when)
        stamp = now_iso()
        metric = state.metrics.get(key)
        if metric is not None:
            for name in state.totals:
                state.totals[name] -= metric[name]
            metric.update(figures, metadata={**metric["metadata"], **figures["metadata"]}, updatedAt=stamp)
        else:
            metric = {
                "id": self.new_id(),
                "campaignId": campaign["id"],
                "flightId": None,
                "metricDate": key,
                **figures,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
            state.metrics.add(key, metric)
        for name in state.totals:
            state.totals[name] += metric[name]
        target = _spend_target(campaign, when)
        signals, resolved = _anomalies(metric, target, campaign, when)
        metric.update(
            spendTarget=target,
            ctr=round(_ratio(metric["clicks"], metric["impressions"]), 6),
            cvr=round(_ratio(metric["conversions"], metric["clicks"]), 6),
            anomalyScore=round(min(len(signals) / 5, 1), 4) if signals else 0,
        )
        self.event("ads_spend", metric["spend"])
        self.event()  # the analytics export row
        for kind in resolved:
            signal = state.signals.get((None, key, kind))
            if signal is not None and signal["resolvedAt"] is None:
                signal.update(resolvedAt=stamp, resolutionNote="Condition returned within configured thresholds.")
        for kind, severity, meta in signals:
            self._open_signal(campaign["id"], state, key, kind, severity, meta, stamp)
        return metric

    def _open_signal(
        self, campaign_id: str, state: CampaignState, day: str, kind: str, severity: str, meta: Any, stamp: str
    ) -> None:
        key = (None, day, kind)
        signal = state.signals.get(key)
        if signal is None:
            signal = {
                "id": self.new_id(),
                "campaignId": campaign_id,
                "flightId": None,
                "metricDate": day,
                "signalType": kind,
                "severity": severity,
                "detectedAt": stamp,
                "resolvedAt": None,
                "resolutionNote": None,
                "metadata": meta,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
            self.signal_index[signal["id"]] = (campaign_id, key)
            state.signals.add(key, signal)
        else:  # re-opened (campaignService.js:505-516)
            signal.update(severity=severity, metadata=meta, detectedAt=stamp, resolvedAt=None, resolutionNote=None)
            signal["updatedAt"] = stamp
        self.event()

    def signal(self, signal_id: str) -> dict[str, Any]:
        where = self.signal_index.get(signal_id)
        state = self.campaign_state.get(where[0]) if where else None
        signal = state.signals.get(where[1]) if state and where else None
        if signal is None:
            raise not_found("Fraud signal not found", "signalId")
        return signal

    def fraud_signals(self, campaign_id: str, include_resolved: bool) -> list[dict[str, Any]]:
        state = self.campaign_state.get(campaign_id)
        if state is None:
            return []  # an unknown campaign gets 200 [] (campaignService.js:685-695)
        kept = [s for s in state.signals.values() if include_resolved or s["resolvedAt"] is None]
        return sorted(kept, key=lambda s: s["detectedAt"], reverse=True)

    def resolve_signal(self, signal_id: str, note: Any) -> dict[str, Any]:
        signal = self.signal(signal_id)
        if signal["resolvedAt"] is None:  # an already-resolved signal comes back unchanged
            stamp = now_iso()
            signal.update(resolvedAt=stamp, resolutionNote=note or "Manually resolved via API.", updatedAt=stamp)
        return signal

    def campaign_summary(self, campaign_id: str) -> dict[str, Any]:
        campaign = self.campaign(campaign_id)
        state = self.campaign_state[campaign_id]
        totals = dict(state.totals)
        totals["impressions"], totals["clicks"] = int(totals["impressions"]), int(totals["clicks"])
        totals["conversions"] = int(totals["conversions"])
        spend = totals["spend"]
        signals = list(state.signals.values())
        return {
            "campaign": {
                **self._relations(campaign),
                "dailyMetrics": list(state.metrics.values()),
                "fraudSignals": signals,
            },
            "totals": {
                **totals,
                "ctr": round(_ratio(totals["clicks"], totals["impressions"]), 4),
                "cvr": round(_ratio(totals["conversions"], totals["clicks"]), 4),
                "roi": round((totals["revenue"] - spend) / spend, 4) if spend > 0 else 0,
            },
            "openFraudSignals": sum(1 for s in signals if s["resolvedAt"] is None),
        }

    # ------------------------------------------------------------------ analytics
    def dashboard_totals(self, start: datetime, end: datetime) -> dict[str, float]:
        first, last = int(start.timestamp() // 3600), int((end.timestamp() - 1) // 3600)
        totals: dict[str, float] = {}
        for hour, bucket in self.hourly.items():
            if first <= hour <= last:
                for key, value in bucket.items():
                    totals[key] = totals.get(key, 0.0) + value
        return totals

    def pipeline_status(self) -> dict[str, Any]:
        return {
            "pipeline": {
                "enabled": True,
                "source": "default",
                "reason": None,
                "toggleState": "enabled",
                "rollout": 100,
                "owner": "analytics",
                "evaluatedAt": now_iso(),
            },
            "backlog": {
                "pendingEvents": self.events_pending,
                "oldestPendingAt": self.oldest_event_at,
                "nextRetryAt": None,
            },
            "runs": [],
            "failureStreak": 0,
            "lastSuccessAt": None,
            "lastError": None,
        }


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else 0.0


def _spend_target(campaign: dict[str, Any], when: datetime) -> float:
    """calculateSpendTarget (campaignService.js:79-101): the daily cap, else budget ÷ days."""
    cap = float(campaign["dailySpendCap"] or 0)
    if cap:
        return cap
    start, end = datetime.fromisoformat(campaign["startAt"]), datetime.fromisoformat(campaign["endAt"])
    days = max(-(-max((end - start).total_seconds(), 0) // 86_400), 1)
    return float(campaign["totalBudget"]) / days


def _anomalies(
    metric: dict[str, Any], target: float, campaign: dict[str, Any], when: datetime
) -> tuple[list[tuple[str, str, dict[str, Any]]], list[str]]:
    """evaluateAnomalies (campaignService.js:141-250): (signals to open, signal types to resolve)."""
    spend, impressions = metric["spend"], metric["impressions"]
    clicks, conversions = metric["clicks"], metric["conversions"]
    opened: list[tuple[str, str, dict[str, Any]]] = []
    resolved: list[str] = []
    if target:
        over = target * (1 + c.OVERSPEND)
        if spend > over:
            opened.append(
                ("overspend", "critical" if spend > over * 1.15 else "warning", {"spend": spend, "spendTarget": target})
            )
        else:
            resolved.append("overspend")
        if target > 0 and spend < target * (1 - c.UNDERSPEND):
            opened.append(("underspend", "warning", {"spend": spend, "spendTarget": target}))
        else:
            resolved.append("underspend")
    ctr, cvr = _ratio(clicks, impressions), _ratio(conversions, clicks)
    for kind, value, limit in (("suspicious_ctr", ctr, c.SUSPICIOUS_CTR), ("suspicious_cvr", cvr, c.SUSPICIOUS_CVR)):
        if value > limit:
            opened.append(
                (kind, "critical" if value > limit * 1.5 else "warning", {kind[11:]: value, "threshold": limit})
            )
        else:
            resolved.append(kind)
    if spend > 0 and impressions < c.DELIVERY_GAP_IMPRESSIONS:
        opened.append(("delivery_gap", "warning", {"spend": spend, "impressions": impressions}))
    else:
        resolved.append("delivery_gap")
    days_active = max(int((when - datetime.fromisoformat(campaign["startAt"])).total_seconds() // 86_400), 0)
    if days_active > c.NO_SPEND_GRACE_DAYS and spend == 0:
        opened.append(("no_spend", "warning", {"daysActive": days_active}))
    else:
        resolved.append("no_spend")
    return opened, resolved

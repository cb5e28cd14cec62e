"""Which retention policy applies to a message: the device's beats the agent's beats the
source's. Only enabled policies count, and the one that applies does so whole (a device
policy without masks means the device's text is not masked, whatever its source says).

`source_rules(source)` loads one source's enabled policies and deleted devices in two
small queries; the sync asks it once per batch (chathistory/sync/convert.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from django.db.models import Q, QuerySet
from django.utils import timezone

from ..models import ChatMessage, DeletedDevice, RetentionPolicy, RetentionScope
from .redaction import Redactor, pattern_problem, redactor_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    """One policy as the sync applies it."""

    policy_id: int
    keep_messages_days: int | None
    keep_audio_days: int | None
    redactor: Redactor | None

    def too_old(self, created_at: datetime, now: datetime) -> bool:
        days = self.keep_messages_days
        return days is not None and created_at < now - timedelta(days=days)

    def audio_too_old(self, created_at: datetime, now: datetime) -> bool:
        days = self.keep_audio_days
        return days is not None and created_at < now - timedelta(days=days)


def rule_of(policy: RetentionPolicy) -> Rule:
    built_in = frozenset(
        name
        for name, on in (
            ("phone", policy.redact_phone),
            ("id_number", policy.redact_id_number),
            ("email", policy.redact_email),
            ("bank_card", policy.redact_bank_card),
        )
        if on
    )
    patterns = safe_patterns(tuple(policy.pattern_list()))
    redactor = redactor_for(built_in, patterns) if (built_in or patterns) else None
    return Rule(policy.pk, policy.keep_messages_days, policy.keep_audio_days, redactor)


@lru_cache(maxsize=256)
def safe_patterns(patterns: tuple[str, ...]) -> tuple[str, ...]:
    """The patterns that pass the checks (a row saved around the services keeps the sync
    safe: a bad pattern is left out and logged, never compiled into the sync)."""
    safe = []
    for pattern in patterns:
        problem = pattern_problem(pattern)
        if problem:
            logger.warning("retention: custom pattern %r left out: %s", pattern[:60], problem)
        else:
            safe.append(pattern)
    return tuple(safe)


@dataclass
class SourceRules:
    """One source's policies by device identifier and by the source's agent id."""

    devices: dict[str, Rule] = field(default_factory=dict)
    agents: dict[str, Rule] = field(default_factory=dict)
    source: Rule | None = None
    # Device identifier -> rows created up to then are never copied again.
    deleted: dict[str, datetime] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.devices or self.agents or self.source or self.deleted)

    def rule_for(self, *, mac: str | None, agent_id: str | None) -> Rule | None:
        if mac is not None and mac in self.devices:
            return self.devices[mac]
        if agent_id is not None and agent_id in self.agents:
            return self.agents[agent_id]
        return self.source

    def deleted_row(self, *, mac: str | None, created_at: datetime) -> bool:
        before = self.deleted.get(mac) if mac is not None else None
        return before is not None and created_at <= before


def source_rules(source: str) -> SourceRules:
    rules = SourceRules()
    policies = RetentionPolicy.objects.filter(enabled=True, source=source).select_related(
        "device", "agent"
    )
    for policy in policies:
        if policy.scope == RetentionScope.DEVICE and policy.device is not None:
            rules.devices[policy.device.mac] = rule_of(policy)
        elif policy.scope == RetentionScope.AGENT and policy.agent is not None:
            rules.agents[policy.agent.agent_id] = rule_of(policy)
        elif policy.scope == RetentionScope.SOURCE:
            rules.source = rule_of(policy)
    rules.deleted = dict(
        DeletedDevice.objects.filter(source=source).values_list("mac", "history_before")
    )
    return rules


def redact_for(*, source: str, mac: str | None, agent_id: str | None, text: str) -> str:
    """`text` masked as the policy of (source, device, agent) says (the report ingest's hook)."""
    rule = source_rules(source).rule_for(mac=mac, agent_id=agent_id)
    return rule.redactor(text) if rule is not None and rule.redactor else text


# --- the messages a policy governs (the nightly pass) ------------------------------------


def governed_messages(policy: RetentionPolicy) -> QuerySet[ChatMessage]:
    """The messages `policy` applies to: its scope minus what a more specific enabled policy
    takes (a device policy takes its device's messages from its agent's and source's)."""
    enabled = RetentionPolicy.objects.filter(enabled=True, source=policy.source)
    if policy.scope == RetentionScope.DEVICE:
        return ChatMessage.objects.filter(device_id=policy.device_id)
    devices = list(
        enabled.filter(scope=RetentionScope.DEVICE, device__isnull=False).values_list(
            "device_id", flat=True
        )
    )
    if policy.scope == RetentionScope.AGENT:
        messages = ChatMessage.objects.filter(agent_id=policy.agent_id)
    else:
        agents = list(
            enabled.filter(scope=RetentionScope.AGENT, agent__isnull=False).values_list(
                "agent_id", flat=True
            )
        )
        messages = ChatMessage.objects.filter(source=policy.source)
        if agents:
            messages = messages.filter(Q(agent_id__isnull=True) | ~Q(agent_id__in=agents))
    if devices:
        messages = messages.filter(Q(device_id__isnull=True) | ~Q(device_id__in=devices))
    return messages


def cutoff(days: int, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=days)

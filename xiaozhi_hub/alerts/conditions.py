"""The rule kinds' conditions: which subjects are in trouble right now, since when, and
what to tell the operator about each (English and Simplified Chinese).

One function per kind, each `(rule params, now) -> {subject: Finding}`; they
read through data.py and decide nothing about notifications (engine.py does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from xiaozhi_hub.masking import mask_text

from . import data, kinds

# The states of an enabled endpoint that is degraded or not connected (failed has its
# own kind; disabled is the operator's choice).
DOWN_STATES = ("connecting", "backoff", "degraded")
# An upstream server that is not ready (stopped: disabled by the operator).
SERVER_DOWN_STATES = ("starting", "restarting", "failed")
MAX_ERROR_CHARS = 200


@dataclass(frozen=True)
class Finding:
    subject: str
    label: str
    since: datetime | None  # None: the data cannot say; the engine's first sight counts
    en: str
    zh: str


Check = Callable[[dict[str, Any], datetime], dict[str, Finding]]


def when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _minutes(delta: timedelta) -> str:
    return f"{max(0, round(delta.total_seconds() / 60))}"


def _error(text: str) -> str:
    text = mask_text(text or "").strip()
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def endpoint_subject(endpoint_id: int) -> str:
    return f"endpoint:{endpoint_id}"


def _endpoint_failed(params: dict, now: datetime) -> dict[str, Finding]:
    found = {}
    for endpoint in data.endpoint_states():
        if endpoint.enabled and endpoint.state == "failed":
            subject = endpoint_subject(endpoint.id)
            found[subject] = Finding(
                subject=subject,
                label=endpoint.name,
                since=data.state_since(endpoint.id, ("failed",)),
                en=f"Endpoint “{endpoint.name}” failed: it gave up reconnecting.",
                zh=f"端点“{endpoint.name}”连接失败，已停止重连。",
            )
    return found


def _endpoint_down(params: dict, now: datetime) -> dict[str, Finding]:
    found = {}
    for endpoint in data.endpoint_states():
        if not endpoint.enabled or endpoint.state not in DOWN_STATES:
            continue
        since = data.state_since(endpoint.id, DOWN_STATES)
        lease = endpoint.lease_expires_at
        if since is None and lease is not None and lease < now:
            since = lease  # its worker went away without writing a state change
        subject = endpoint_subject(endpoint.id)
        if endpoint.state == "degraded":
            en = f"Endpoint “{endpoint.name}” is degraded: its health checks fail."
            zh = f"端点“{endpoint.name}”状态降级：健康检查失败。"
        else:
            en = f"Endpoint “{endpoint.name}” is not connected (state {endpoint.state})."
            zh = f"端点“{endpoint.name}”未连接（状态：{endpoint.state}）。"
        found[subject] = Finding(subject=subject, label=endpoint.name, since=since, en=en, zh=zh)
    return found


def _token_expiry(params: dict, now: datetime) -> dict[str, Finding]:
    window = timedelta(days=params["days"])
    found = {}
    for endpoint in data.endpoint_states():
        expiry = endpoint.token_expires_at
        if not endpoint.enabled or expiry is None or expiry - now > window:
            continue
        subject = endpoint_subject(endpoint.id)
        if expiry <= now:
            en = f"The token of endpoint “{endpoint.name}” expired at {when(expiry)}."
            zh = f"端点“{endpoint.name}”的令牌已于 {when(expiry)} 过期。"
        else:
            days = (expiry - now).days
            left_en = f"{days} day{'s' if days != 1 else ''}" if days else "less than a day"
            left_zh = f"{days} 天" if days else "不到 1 天"
            en = (
                f"The token of endpoint “{endpoint.name}” expires at {when(expiry)} "
                f"(in {left_en}): replace its URL."
            )
            zh = (
                f"端点“{endpoint.name}”的令牌将于 {when(expiry)} 过期（剩余{left_zh}），"
                "请更换接入地址。"
            )
        found[subject] = Finding(
            subject=subject, label=endpoint.name, since=expiry - window, en=en, zh=zh
        )
    return found


def _healthy_ratio(params: dict, now: datetime) -> dict[str, Finding]:
    enabled = [e for e in data.endpoint_states() if e.enabled]
    if not enabled:
        return {}
    healthy = sum(e.state == data.HEALTHY_STATE for e in enabled)
    share = 100.0 * healthy / len(enabled)
    threshold = params["percent"]
    if share >= threshold:
        return {}
    return {
        "pool": Finding(
            subject="pool",
            label="endpoint pool",
            since=None,
            en=f"Only {healthy} of {len(enabled)} enabled endpoints are healthy "
            f"({share:.0f} %, below {threshold:g} %).",
            zh=f"已启用的 {len(enabled)} 个端点中只有 {healthy} 个健康"
            f"（{share:.0f}%，低于 {threshold:g}%）。",
        )
    }


def _server_down(params: dict, now: datetime) -> dict[str, Finding]:
    if not data.pool_running():
        return {}  # no worker: the stored states are stale (the endpoint rules fire instead)
    found = {}
    for server in data.server_states():
        if server.state not in SERVER_DOWN_STATES:
            continue
        subject = f"mcp_server:{server.id}"
        error = _error(server.last_error)
        found[subject] = Finding(
            subject=subject,
            label=server.name,
            since=None,
            en=f"Upstream MCP server “{server.name}” is down (state {server.state})."
            + (f" Last error: {error}" if error else ""),
            zh=f"上游 MCP 服务器“{server.name}”不可用（状态：{server.state}）。"
            + (f"最近的错误：{error}" if error else ""),
        )
    return found


def _sync_subject(key: str, name: str) -> tuple[str, str, str]:
    """An alert's subject and label (English, Chinese) for one source's sync; "sync" is
    the environment's source, as before there were several."""
    if key == data.DEFAULT_SOURCE:
        return "sync", "chat-history sync", "聊天记录同步"
    return f"sync:{key}", f"chat-history sync of {name}", f"聊天记录同步（{name}）"


def _sync_failing(params: dict, now: datetime) -> dict[str, Finding]:
    found = {}
    for key, name in data.sync_sources():
        count, since, error = data.sync_failure_streak(source=key)
        if count < params["runs"]:
            continue
        error = _error(error)
        subject, label, zh_label = _sync_subject(key, name)
        found[subject] = Finding(
            subject=subject,
            label=label,
            since=since,
            en=f"The {label} failed {count} runs in a row."
            + (f" Last error: {error}" if error else ""),
            zh=f"{zh_label}已连续失败 {count} 次。" + (f"最近的错误：{error}" if error else ""),
        )
    return found


def _sync_lag(params: dict, now: datetime) -> dict[str, Finding]:
    found = {}
    limit = timedelta(minutes=params["minutes"])
    for key, name in data.sync_sources():
        last_success = data.sync_last_success(source=key)
        reference = last_success or data.sync_first_run_at(source=key)
        if reference is None or now - reference <= limit:
            continue
        lag = _minutes(now - reference)
        subject, label, zh_label = _sync_subject(key, name)
        if last_success is None:
            en = f"The {label} has not succeeded since it first ran, {lag} min ago."
            zh = f"{zh_label}自首次运行（{lag} 分钟前）以来从未成功。"
        else:
            en = f"No successful {label} for {lag} min (last success {when(last_success)})."
            zh = f"{zh_label}已 {lag} 分钟没有成功（上次成功：{when(last_success)}）。"
        found[subject] = Finding(
            subject=subject, label=label, since=reference + limit, en=en, zh=zh
        )
    return found


def _ingest_rejects(params: dict, now: datetime) -> dict[str, Finding]:
    window = params["window_minutes"]
    # Whole minutes: the current one and the window - 1 before it.
    since = now.replace(second=0, microsecond=0) - timedelta(minutes=window - 1)
    accepted, rejected = data.ingest_counts(since=since)
    total = accepted + rejected
    if total < params["min_requests"] or 100.0 * rejected / total <= params["percent"]:
        return {}
    share = 100.0 * rejected / total
    return {
        "ingest": Finding(
            subject="ingest",
            label="chat-history report ingest",
            since=None,
            en=f"The report endpoint rejected {rejected} of {total} chat reports "
            f"({share:.0f} %) in the last {window} min.",
            zh=f"最近 {window} 分钟内，上报接口拒绝了 {total} 条聊天记录上报中的 {rejected} 条"
            f"（{share:.0f}%）。",
        )
    }


CHECKS: dict[str, Check] = {
    kinds.ENDPOINT_FAILED: _endpoint_failed,
    kinds.ENDPOINT_DOWN: _endpoint_down,
    kinds.TOKEN_EXPIRY: _token_expiry,
    kinds.HEALTHY_RATIO: _healthy_ratio,
    kinds.SERVER_DOWN: _server_down,
    kinds.SYNC_FAILING: _sync_failing,
    kinds.SYNC_LAG: _sync_lag,
    kinds.INGEST_REJECTS: _ingest_rejects,
}


def findings(kind: str, params: dict[str, Any], now: datetime) -> dict[str, Finding]:
    """The subjects a rule of `kind` finds in trouble (an unknown kind finds nothing)."""
    check = CHECKS.get(kind)
    return check(kinds.clean_params(kind, params), now) if check else {}

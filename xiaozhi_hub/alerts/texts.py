"""The notifications' words: titles and bodies in English and Simplified Chinese.

Built from what an alert already holds (its messages never carry a secret);
every text goes through mask_text once more on the way out all the same.
"""

from __future__ import annotations

from datetime import datetime

from xiaozhi_hub.masking import mask_text

from . import kinds
from .conditions import when
from .models import Alert

KIND_ZH = {
    kinds.ENDPOINT_FAILED: "端点连接失败",
    kinds.ENDPOINT_DOWN: "端点未连接",
    kinds.TOKEN_EXPIRY: "端点令牌即将过期",
    kinds.HEALTHY_RATIO: "健康端点过少",
    kinds.SERVER_DOWN: "上游 MCP 服务器不可用",
    kinds.SYNC_FAILING: "聊天记录同步失败",
    kinds.SYNC_LAG: "聊天记录同步滞后",
    kinds.INGEST_REJECTS: "聊天记录上报被拒过多",
}
SEVERITY_ZH = {"critical": "严重", "warning": "警告", "info": "提示"}
PREFIX = {
    "firing": ("[FIRING]", "【告警】"),
    "resolved": ("[RESOLVED]", "【已恢复】"),
    "reminder": ("[STILL FIRING]", "【仍在告警】"),
}


def _lasted(alert: Alert, end: datetime) -> int:
    return max(0, round((end - alert.started_at).total_seconds() / 60))


def title(event: str, alert: Alert) -> dict[str, str]:
    en_prefix, zh_prefix = PREFIX[event]
    rule = alert.rule
    label = alert.subject_label or alert.subject
    return {
        "en": mask_text(f"{en_prefix} {rule.name}: {label}"),
        "zh-hans": mask_text(f"{zh_prefix}{KIND_ZH.get(rule.kind, rule.name)}：{label}"),
    }


def body(event: str, alert: Alert, *, now: datetime) -> dict[str, str]:
    since = when(alert.started_at)
    severity_zh = SEVERITY_ZH.get(alert.severity, alert.severity)
    if event == "firing":
        rule = alert.rule.name
        en = f"{alert.message}\nSeverity {alert.severity}, since {since} (rule “{rule}”)."
        zh = f"{alert.message_zh}\n级别：{severity_zh}；开始于 {since}（规则“{rule}”）。"
    elif event == "reminder":
        en = (
            f"{alert.message}\nStill firing since {since} (reminder {alert.reminder_count}). "
            "Acknowledge or silence it to stop the reminders."
        )
        zh = (
            f"{alert.message_zh}\n自 {since} 起持续告警（第 {alert.reminder_count} 次提醒）。"
            "确认或静默该告警即可停止提醒。"
        )
    else:
        resolved = alert.resolved_at or now
        minutes = _lasted(alert, resolved)
        en = f"Resolved at {when(resolved)} after {minutes} min. It was: {alert.message}"
        zh = f"已于 {when(resolved)} 恢复，持续约 {minutes} 分钟。此前：{alert.message_zh}"
    return {"en": mask_text(en), "zh-hans": mask_text(zh)}

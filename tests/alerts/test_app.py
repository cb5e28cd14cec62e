"""The app's set-up: its migration (default rules, the roles' permissions, both frozen
copies in step with the code), the beat entry, the evaluator task, rule validation,
the admin, and the one module that reads the apps."""

from __future__ import annotations

import ast
import importlib

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from tests.access.identities import make_user
from tests.services import REPO
from xiaozhi_hub.access import roles
from xiaozhi_hub.alerts import kinds
from xiaozhi_hub.alerts.models import Alert, AlertRule
from xiaozhi_hub.alerts.schedule import ALERT_TASK, ALERT_TASK_NAME
from xiaozhi_hub.alerts.tasks import evaluate_alerts

pytestmark = pytest.mark.django_db

migration = importlib.import_module("xiaozhi_hub.alerts.migrations.0001_initial")


def test_the_migration_creates_one_default_rule_per_kind_as_kinds_describes_them():
    rules = {rule.kind: rule for rule in AlertRule.objects.all()}
    assert set(rules) == {kind for kind, _ in kinds.KIND_CHOICES}
    assert all(rule.enabled for rule in rules.values())
    assert rules[kinds.HEALTHY_RATIO].params == {"percent": 50}
    frozen = [
        {"name": n, "kind": k, "params": p, "for_minutes": f, "severity": s, "description": d}
        for n, k, p, f, s, d in migration.DEFAULT_RULES
    ]
    assert frozen == [{"params": {}, **rule} for rule in kinds.DEFAULT_RULES]
    for rule in rules.values():  # each default is valid as the admin would check it
        rule.full_clean()


def test_the_roles_hold_the_alert_permissions_the_migration_gave_them():
    for role, permissions in migration.ROLE_PERMISSIONS.items():
        in_roles = {p for p in roles.ROLES[role] if p.startswith("alerts.")}
        assert set(permissions) == in_roles, role
        granted = {
            f"alerts.{codename}"
            for codename in Group.objects.get(name=role)
            .permissions.filter(content_type__app_label="alerts")
            .values_list("codename", flat=True)
        }
        assert granted == in_roles, role
    assert "alerts.change_alert" in roles.OPERATOR_PERMISSIONS
    assert "alerts.change_alert" not in roles.VIEWER_PERMISSIONS
    assert "alerts.change_alertrule" not in roles.OPERATOR_PERMISSIONS


def test_the_evaluator_is_scheduled_every_hub_alert_interval(settings):
    task = PeriodicTask.objects.get(name=ALERT_TASK_NAME)
    assert (task.task, task.interval.every, task.interval.period) == (
        ALERT_TASK,
        settings.HUB_ALERT_INTERVAL,
        "seconds",
    )
    assert task.enabled and task.expire_seconds == settings.HUB_ALERT_INTERVAL


def test_the_task_evaluates_the_rules(django_user_model):
    from endpoints.models import Endpoint, EndpointLiveStatus

    AlertRule.objects.exclude(kind=kinds.ENDPOINT_FAILED).update(enabled=False)
    endpoint = Endpoint.objects.create(name="gone", url="wss://example.org/mcp/?token=t")
    Endpoint.objects.filter(pk=endpoint.pk).update(
        owner="w", lease_expires_at=timezone.now() + timezone.timedelta(hours=1)
    )
    EndpointLiveStatus.objects.create(endpoint=endpoint, state="failed")
    evaluate_alerts.apply()
    assert Alert.objects.get().subject == f"endpoint:{endpoint.pk}"


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        (kinds.HEALTHY_RATIO, {"percent": 0}, "percent must be between 1 and 100"),
        (kinds.HEALTHY_RATIO, {"percent": "50"}, "percent must be a number"),
        (kinds.SYNC_FAILING, {"runs": 2.5}, "runs must be a whole number"),
        (kinds.ENDPOINT_FAILED, {"days": 3}, "unknown parameter 'days' for endpoint_failed"),
        (kinds.TOKEN_EXPIRY, [7], "parameters must be a JSON object"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(kind, params, message):
    rule = AlertRule(name="bad", kind=kind, params=params)
    with pytest.raises(ValidationError) as refused:
        rule.full_clean()
    assert message in str(refused.value.message_dict["params"])


def test_missing_parameters_take_their_defaults():
    rule = AlertRule(name="ingest", kind=kinds.INGEST_REJECTS, params={"percent": 5})
    rule.full_clean()
    assert rule.params == {"percent": 5, "window_minutes": 15, "min_requests": 10}


def test_the_admin_refuses_bad_parameters_and_stores_nothing():
    client = Client()
    client.force_login(make_user("superuser"))
    response = client.post(
        "/admin/alerts/alertrule/add/",
        {
            "name": "too strict",
            "kind": kinds.HEALTHY_RATIO,
            "enabled": "on",
            "severity": "critical",
            "params": '{"percent": 500}',
            "for_minutes": "1",
            "reminder_hours": "4",
            "flap_minutes": "5",
        },
    )
    assert response.status_code == 200
    assert "percent must be between 1 and 100" in response.content.decode()
    assert not AlertRule.objects.filter(name="too strict").exists()


def test_the_admin_actions_acknowledge_and_silence_for_operators_only():
    rule = AlertRule.objects.get(kind=kinds.ENDPOINT_FAILED)
    alert = Alert.objects.create(rule=rule, subject="endpoint:1", started_at=timezone.now())
    operator = Client()
    operator.force_login(make_user("operator"))
    changelist = "/admin/alerts/alert/"
    page = operator.get(changelist).content.decode()
    assert "Acknowledge (no more reminders)" in page and "Silence for 24 hours" in page
    operator.post(changelist, {"action": "acknowledge", "_selected_action": [alert.pk]})
    operator.post(changelist, {"action": "silence_24h", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.acknowledged_by.username == "operator"
    assert alert.silenced_until > timezone.now() + timezone.timedelta(hours=23)

    viewer = Client()
    viewer.force_login(make_user("viewer"))
    assert "Acknowledge (no more reminders)" not in viewer.get(changelist).content.decode()
    assert viewer.get(f"/admin/alerts/alert/{alert.pk}/change/").status_code == 200
    assert viewer.get("/admin/alerts/alertrule/add/").status_code == 403


def test_only_data_py_reads_the_apps():
    """Like the console: one door, plain imports at the top (a rename fails at load)."""
    reaching = {}
    for path in sorted((REPO / "xiaozhi_hub" / "alerts").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add((node.module or "").split(".")[0])
        if names & {"endpoints", "chathistory"}:
            reaching[path.name] = names & {"endpoints", "chathistory"}
    assert reaching == {"data.py": {"endpoints", "chathistory"}}

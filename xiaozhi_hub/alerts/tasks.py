import logging

from celery import shared_task

from .engine import evaluate_rules

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def evaluate_alerts() -> None:
    """Beat, every HUB_ALERT_INTERVAL seconds: one tick of the alert rules (engine.py)."""
    outcome = evaluate_rules()
    if outcome:
        logger.info("alert rules: %s", dict(outcome))

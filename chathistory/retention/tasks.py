"""The nightly retention pass as a Celery task (beat entry: schedule.py)."""

from __future__ import annotations

import logging

from celery import shared_task

from ..models import RetentionRun
from ..search import index as search_index
from .apply import retention_apply

logger = logging.getLogger(__name__)

TASK = "chathistory.retention.tasks.apply_retention"


@shared_task(name=TASK, ignore_result=True)
def apply_retention(redact_existing: bool = False) -> dict:
    """Every enabled policy, in batches (chathistory/retention/apply.py)."""
    result = retention_apply(trigger=RetentionRun.Trigger.NIGHTLY, redact_existing=redact_existing)
    # The search index's rows of the messages just deleted (never returned, but they take room).
    search_index.prune()
    return result.as_dict()

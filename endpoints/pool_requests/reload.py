"""Telling the running pool that its configuration rows changed."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from endpoints import control
from xiaozhi_hub.masking import mask_text

logger = logging.getLogger(__name__)


def send_now(op: str, **fields: Any) -> None:
    """Fire and forget: a lost message does no harm, the workers' reconcile catches up."""
    try:
        control.send(op, **fields)
    except Exception as exc:  # the row is saved; the workers' reconcile catches up
        logger.warning("endpoint pool control %s not delivered: %s", op, mask_text(str(exc)))


def pool_notify_changed() -> None:
    """After the current transaction commits, tell the pool to re-read its rows."""
    transaction.on_commit(lambda: send_now(control.RELOAD))

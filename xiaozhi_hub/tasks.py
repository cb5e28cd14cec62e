import os
import socket
from typing import TypedDict

from celery import shared_task

from .broadcast import SYSTEM, broadcast, now_iso


class HubStatusPayload(TypedDict):
    worker: str
    pid: int
    sent_at: str


class HubProbePayload(TypedDict):
    nonce: str
    worker: str
    sent_at: str


def _worker_name(task) -> str:
    # Eager tasks run inside `runhub` (one-process mode), not on a worker.
    if task.request.is_eager:
        return f"runhub@{socket.gethostname()}"
    return task.request.hostname


@shared_task(bind=True, ignore_result=True)
def publish_hub_status(self) -> None:
    """Scheduled by beat: tells open consoles which worker is alive, and when."""
    broadcast(
        SYSTEM,
        "hub_status",
        HubStatusPayload(worker=_worker_name(self), pid=os.getpid(), sent_at=now_iso()),
    )


@shared_task(bind=True, ignore_result=True)
def broadcast_probe(self, nonce: str) -> None:
    """Proves the path worker -> channel layer -> console (`hub_doctor --probe`)."""
    broadcast(
        SYSTEM,
        "hub_probe",
        HubProbePayload(nonce=nonce, worker=_worker_name(self), sent_at=now_iso()),
    )

"""The claim that lets one sync run per source at a time, across processes.

A run owns the source's SyncState row while `claimed_by` holds its token. It
renews `claimed_at` with every batch; a claim that has not been renewed for
HUB_SYNC_CLAIM_TIMEOUT seconds belongs to a dead run and can be taken over.
The run that takes it over closes the dead run's record as abandoned (runs.py):
one claim, so at most one run of a source is ever really in progress.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..models import SyncState, SyncStatus


class ClaimLost(RuntimeError):
    """Another run took this source over (this one looked dead): stop without committing."""


def claim_token() -> str:
    # Host and pid say which worker holds a claim; the suffix tells its runs apart.
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(source: str, token: str) -> bool:
    """Atomically mark the source in progress, unless a live run already holds it."""
    SyncState.objects.get_or_create(source=source)
    now = timezone.now()
    stale = now - timedelta(seconds=settings.HUB_SYNC_CLAIM_TIMEOUT)
    free = ~Q(status=SyncStatus.IN_PROGRESS) | Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale)
    taken = (
        SyncState.objects.filter(source=source)
        .filter(free)
        .update(status=SyncStatus.IN_PROGRESS, claimed_by=token, claimed_at=now)
    )
    return taken == 1


@dataclass(frozen=True)
class Claim:
    """A claim held on the SyncState row `state_pk` under `token`."""

    state_pk: int
    token: str

    def _ours(self):
        return SyncState.objects.filter(pk=self.state_pk, claimed_by=self.token)

    def renew(self, **changes) -> None:
        """Refresh the heartbeat along with `changes`; ClaimLost if another run holds it now."""
        if self._ours().update(claimed_at=timezone.now(), **changes) != 1:
            raise ClaimLost("another sync run took over this source; this run stops")

    def release(self, **changes) -> None:
        """Give the claim up with the run's final `changes`.

        Only a claim still held is released: a run that lost it leaves the new owner alone.
        """
        self._ours().update(claimed_by="", claimed_at=None, **changes)

"""The sync engine: copies new source rows into the hub, batch by batch.

Guarantees (docs/chat-history.md explains them for operators):

* One sync per source at a time, across processes: a run claims its
  SyncState row with a conditional UPDATE, renews the claim with every batch
  and loses it (the batch rolls back) if another run took it over (claim.py).
* No row lost: the cursor is the highest id copied, and every id below it
  that was missing when the cursor passed it is kept as a SyncGap and
  re-read on every run until it appears (a transaction that committed late)
  or HUB_SYNC_GAP_GRACE passes (a rollback or a delete) (gaps.py).
* None duplicated: messages are upserted on the unique (source, source_id),
  the cursor, gaps and counters change in the same transaction (engine.py,
  messages.py), and a report that arrived first through the ingest endpoint
  is linked, not copied a second time (linking.py).
"""

from .claim import claim
from .engine import run_sync
from .runs import SyncResult

__all__ = ["SyncResult", "claim", "run_sync"]

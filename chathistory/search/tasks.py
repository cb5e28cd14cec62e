"""The search index's Celery task: index what is new (docs/search.md).

Run after each sync run and on the beat (every minute is plenty: a search also reads the
messages the index has not reached yet). Two at once take turns on the state row.
"""

from __future__ import annotations

from celery import shared_task

from .index import index_enabled, index_pending

TASK = "chathistory.search.tasks.index_new_messages"


@shared_task(name=TASK, ignore_result=True)
def index_new_messages(max_messages: int = 200_000) -> dict:
    """Index up to `max_messages` new messages (a big backlog: the next run goes on)."""
    if not index_enabled():
        return {"messages": 0, "grams": 0, "cursor": None}
    return index_pending(max_messages=max_messages)

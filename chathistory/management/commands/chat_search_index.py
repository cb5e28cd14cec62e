"""`manage.py chat_search_index build|rebuild|status|prune|reindex` (docs/search.md)."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from chathistory.search import index
from xiaozhi_hub.terminal_language import in_terminal_language


class Command(BaseCommand):
    help = "Build, rebuild, check or prune the chat-history search index."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        build = sub.add_parser("build", help="index the messages not indexed yet")
        rebuild = sub.add_parser("rebuild", help="empty the index, then index every message")
        for p in (build, rebuild):
            p.add_argument("--batch", type=int, default=index.BATCH, help="messages a batch")
        sub.add_parser("status", help="where the index is, as JSON")
        sub.add_parser("prune", help="delete the rows of messages that no longer exist")
        again = sub.add_parser("reindex", help="index these messages' content again")
        again.add_argument("ids", nargs="+", type=int, help="message ids")

    @in_terminal_language
    def handle(self, *args, action, **options):
        started = time.monotonic()
        if action == "status":
            self.stdout.write(json.dumps(index.index_status(), indent=2))
            return
        if action == "prune":
            deleted = index.prune()
            self.stdout.write(_("Deleted %(rows)d rows of deleted messages.") % {"rows": deleted})
            return
        if action == "reindex":
            rows = index.reindex(options["ids"])
            self.stdout.write(_("Indexed %(rows)d grams again.") % {"rows": rows})
            return
        if action == "rebuild":
            index.clear()
        total = {"messages": 0, "grams": 0}
        while True:
            done = index.index_pending(batch_size=max(1, options["batch"]), max_messages=100_000)
            total["messages"] += done["messages"]
            total["grams"] += done["grams"]
            if done["messages"]:
                self.stdout.write(
                    _("%(messages)d messages indexed, up to id %(cursor)d")
                    % {"messages": total["messages"], "cursor": done["cursor"]}
                )
            if done["messages"] < 100_000:
                break
        self.stdout.write(
            _("Done: %(messages)d messages, %(grams)d grams, in %(seconds).1f s.")
            % {
                "messages": total["messages"],
                "grams": total["grams"],
                "seconds": time.monotonic() - started,
            }
        )

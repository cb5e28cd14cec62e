"""The text-search side index (chathistory/search/, docs/search.md)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class SearchGram(models.Model):
    """One gram of one message: the posting lists of the search index.

    The primary key (gram, message_id) is InnoDB's clustered index, so a gram's posting
    list is one range scan. No foreign key: a deleted message's rows are never returned
    (every search reads the message table) and `chat_search_index prune` removes them.
    """

    pk = models.CompositePrimaryKey("gram", "message_id")
    gram = models.BigIntegerField(_("gram"))
    message_id = models.BigIntegerField(_("message id"))

    class Meta:
        verbose_name = _("search gram")
        verbose_name_plural = _("search grams")

    def __str__(self) -> str:
        return f"{self.gram} -> {self.message_id}"


class SearchIndexState(models.Model):
    """Where the index is: every message with an id up to `cursor` is indexed."""

    name = models.CharField(_("name"), max_length=32, unique=True, default="messages")
    cursor = models.BigIntegerField(_("cursor"), default=0)
    messages_indexed = models.BigIntegerField(_("messages indexed"), default=0)
    rebuilt_at = models.DateTimeField(_("rebuilt at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("search index state")
        verbose_name_plural = _("search index states")

    def __str__(self) -> str:
        return f"{self.name} @ {self.cursor}"

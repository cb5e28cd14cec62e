"""One sync run of a manager-api source (docs/manager-api-source.md).

The REST API has no row ids and no "since" filter, so a run works per session:

1. the agents list names the agents (Agent rows of the source, with their names);
2. each agent's sessions are listed, newest first (by their last message), page
   by page; a session is fetched again only if it is new, its chatCount or its
   createdAt differ from what RemoteSession holds, or its last fetch failed and
   its retry is due. Paging stops at the first page with nothing new (every
   HUB_MANAGER_API_FULL_SCAN_EVERY-th run, and a full run, read every page);
3. a fetched session's messages get a stable 63-bit `source_id` (message_source_id:
   the hub's unique (source, source_id) key then refuses a second copy), are
   converted as the mysql source's rows are, and are written in batches; each
   batch's RemoteSession rows commit in the same transaction as its messages, so
   an interrupted run leaves no session half-recorded;
4. a session that cannot be read (HTTP 5xx after the retries, malformed JSON, a
   shape that is not manager-api's) is recorded on its RemoteSession row and
   skipped; it is retried on a later run, with a growing delay, and never stops
   the others.

A refused token fails the run with "the manager-api rejected the token: ..."; the
beat (and the task's retries) then leave the source alone until its token changes
(a manual run still tries). A server asking (Retry-After) for a longer pause than
one run waits fails the run the same way until that time has passed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import islice

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from xiaozhi_hub.masking import mask_text
from xiaozhi_hub.transactions import retry_on_lock_conflict

from .. import events
from ..events import ChatMessagePayload, SyncProgressPayload
from ..models import Agent, ChatMessage, ChatSession, RemoteSession, RunStatus, Source, SyncState
from ..parsing import as_text
from ..sources.esp32 import SourceRow
from ..sources.manager_api import (
    ApiRefused,
    BadAnswer,
    ManagerApiClient,
    ManagerApiError,
    RateLimited,
    SessionInfo,
    TokenRejected,
    Unavailable,
    parse_date,
    source_time_zone,
)
from . import runs
from .convert import Converted, Rejected, convert, record_rejected
from .messages import write_messages
from .references import References
from .runs import ClaimedRun, SyncResult

try:  # helper "audio" adds chathistory/audio/storage.py; until then audio is not copied
    from ..audio.storage import store_audio
except ImportError:  # pragma: no cover - depends on the audio package being present
    store_audio = None

logger = logging.getLogger(__name__)

SESSION_ID_MAX = 50  # ChatSession.session_id
AUDIO_ID_MAX = 32  # ChatMessage.audio_id
MAC_MAX = 50  # Device.mac
MAX_PAGES = 100_000  # a bound on one agent's session list, whatever `total` says
# Runs nobody asked for (the beat's tick, the task's retry of a failed run): these leave a
# source with a refused token or a pending Retry-After alone.
AUTOMATIC_TRIGGERS = frozenset({"beat", "retry"})


def message_source_id(
    *,
    agent_id: str,
    session_id: str,
    created_at: str,
    chat_type: str,
    content: str,
    occurrence: int,
) -> int:
    """A message's identity, as the hub's `source_id`: 63 bits of a SHA-256 (never negative).

    The API exposes no row id. A message is its agent, session, creation time (to the
    second, as the API prints it, normalised), type and text; `occurrence` tells apart
    identical messages of one session (0 for the first such tuple in the session's
    order, 1 for the second...). Appending messages to a session never changes the
    identity of those before them, so re-reading a grown session finds them again.
    """
    joined = "\x1f".join([agent_id, session_id, created_at, chat_type, content, str(occurrence)])
    digest = hashlib.sha256(joined.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def session_rows(
    agent_id: str, session_id: str, items: list[dict], zone: tzinfo
) -> tuple[list[SourceRow], list[Rejected]]:
    """The API's messages of one session as SourceRows (convert()'s input); rows whose
    date cannot be read are returned as rejected (recorded, never retried blindly)."""
    rows: list[SourceRow] = []
    rejected: list[Rejected] = []
    seen: Counter = Counter()
    for item in items:
        raw_date = item.get("createdAt")
        created = parse_date(raw_date, zone)
        chat_type = item.get("chatType")
        content = as_text(item.get("content"))
        date_key = created.isoformat(sep=" ") if created is not None else repr(raw_date)[:60]
        identity = (date_key, str(chat_type), content)
        occurrence = seen[identity]
        seen[identity] += 1
        row = SourceRow(
            id=message_source_id(
                agent_id=agent_id,
                session_id=session_id,
                created_at=date_key,
                chat_type=str(chat_type),
                content=content,
                occurrence=occurrence,
            ),
            mac=_text(item.get("macAddress"), MAC_MAX),
            agent_id=agent_id,
            session_id=session_id,
            chat_type=chat_type,
            content=content,
            audio_id=_text(item.get("audioId"), AUDIO_ID_MAX),
            created_at=created,
        )
        if created is None:
            rejected.append((row, f"createdAt {raw_date!r} is not a date"))
        else:
            rows.append(row)
    return rows, rejected


def _text(value, limit: int) -> str | None:
    return value if isinstance(value, str) and value.strip() and len(value) <= limit else None


def token_fingerprint(token: str) -> str:
    """What the state remembers of a refused token: enough to notice a new one, no more."""
    key = str(settings.SECRET_KEY).encode("utf-8")
    return hmac.new(key, token.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def run_manager_api_sync(
    source: Source,
    *,
    trigger: str = "beat",
    full: bool = False,
    on_batch: Callable[[SyncProgressPayload], None] | None = None,
    batch_size: int | None = None,
    client: ManagerApiClient | None = None,
) -> SyncResult:
    """One sync run of a manager-api source; never raises (the result says what happened)."""
    started = time.monotonic()
    if not source.url or not source.token:
        return SyncResult(
            status="not_configured",
            error=f"the manager-api source {source.key!r} needs a URL and a token",
        )
    held = held_back(source, trigger=trigger)
    if held:
        return SyncResult(status="not_configured", error=held)
    run = runs.start(source.key, trigger=trigger, full=full)
    if run is None:
        return runs.skipped(source.key, trigger=trigger, started=started)
    own_client = client is None
    if client is None:
        client = ManagerApiClient.for_source(source)
    syncer = _Syncer(source, run, client, on_batch, full=full, batch_size=batch_size)
    result = syncer.result
    marks: dict = {"token_rejected": None, "backoff_until": None}
    try:
        syncer.copy()
    except TokenRejected as exc:
        result.status = RunStatus.FAILED
        result.error = mask_text(
            f"the manager-api rejected the token: {exc}. The beat leaves this source alone "
            "until its token is changed; log in to manager-api again and store the new token."
        )[:2000]
        marks["token_rejected"] = token_fingerprint(source.token)
    except RateLimited as exc:
        result.status = RunStatus.FAILED
        until = timezone.now() + timedelta(seconds=exc.retry_after)
        result.error = mask_text(f"the manager-api asked the hub to wait: {exc}")[:2000]
        marks["backoff_until"] = until.isoformat()
    except Exception as exc:  # noqa: BLE001 - recorded on the run, retried by the next one
        result.status = RunStatus.FAILED
        result.error = mask_text(f"{type(exc).__name__}: {exc}")[:2000]
        result.exception = exc
    finally:
        if own_client:
            client.close()
    if result.status != RunStatus.SUCCESS:
        logger.warning("manager-api sync run %s failed: %s", run.record.pk, result.error)
    try:
        _remember(run, marks)
    except Exception:  # noqa: BLE001 - a lost claim: the run that holds the source decides
        logger.warning("manager-api sync run %s could not record its state", run.record.pk)
    result.duration_ms = int((time.monotonic() - started) * 1000)
    runs.finish(run, result)
    return result


def held_back(source: Source, *, trigger: str) -> str:
    """Why the beat must not contact this source now ('' if it may)."""
    if trigger not in AUTOMATIC_TRIGGERS:
        return ""  # an operator's run always tries
    state = SyncState.objects.filter(source=source.key).values_list("metadata", flat=True).first()
    metadata = state or {}
    if metadata.get("token_rejected") == token_fingerprint(source.token):
        return (
            "the manager-api rejected this token; the source waits for a new one "
            "(a manual sync tries it again)"
        )
    until = metadata.get("backoff_until")
    if until:
        try:
            moment = datetime.fromisoformat(until)
        except (TypeError, ValueError):
            return ""
        if moment > timezone.now():
            return f"the manager-api asked the hub to wait until {moment:%Y-%m-%d %H:%M:%S} UTC"
    return ""


def _remember(run: ClaimedRun, marks: dict) -> None:
    """The token and back-off marks in the state's metadata (None removes one)."""
    metadata = dict(run.state.metadata or {})
    for name, value in marks.items():
        if value is None:
            metadata.pop(name, None)
        else:
            metadata[name] = value
    if metadata != (run.state.metadata or {}):
        run.claim.renew(metadata=metadata)
        run.state.metadata = metadata


class _RestSource:
    """What convert() asks of a source: its key and its dates made aware."""

    def __init__(self, key: str, zone: tzinfo):
        self.name = key
        self.zone = zone

    def aware(self, value: datetime | None) -> datetime | None:
        return None if value is None else value.replace(tzinfo=self.zone).astimezone(UTC)


@dataclass
class _Fetched:
    agent_id: str
    info: SessionInfo
    rows: list[SourceRow]
    rejected: list[Rejected]
    count: int  # messages the server sent


@dataclass
class _Mark:
    """How far a session was copied: its newest message's time, the ids copied at it."""

    until: datetime | None
    ids: set | frozenset

    @classmethod
    def of(cls, row: RemoteSession) -> _Mark:
        ids = row.copied_last if isinstance(row.copied_last, list) else []
        return cls(row.copied_until, frozenset(i for i in ids if isinstance(i, int)))


@dataclass
class _Failures:
    sessions: int = 0
    agents: list[str] = field(default_factory=list)
    first: str = ""
    audio: int = 0


class _Syncer:
    def __init__(self, source, run: ClaimedRun, client, on_batch, *, full: bool, batch_size):
        self.source, self.run, self.client, self.on_batch = source, run, client, on_batch
        self.key = source.key
        self.full = full
        self.batch_size = batch_size or settings.HUB_MANAGER_API_BATCH_SIZE
        self.page_size = settings.HUB_MANAGER_API_PAGE_SIZE
        every = settings.HUB_MANAGER_API_FULL_SCAN_EVERY
        self.scan_all = full or (every > 0 and run.state.runs_total % every == 0)
        self.adapter = _RestSource(self.key, source_time_zone())
        self.refs = References(self.key)
        self.pending: list[_Fetched] = []
        self.pending_rows = 0
        self.titles: dict[str, str] = {}  # session id -> a changed title of an unchanged session
        # Sessions some of whose messages the hub holds (RemoteSession.chat_count >= 0), with
        # the time of the newest message copied and the ids copied at that time: messages of
        # any other session cannot be there yet (they commit with that row), and those copied
        # before of these are not written again.
        self.copied: dict[tuple[str, str], _Mark] = {}
        self.failures = _Failures()
        self.result = SyncResult(
            status=RunStatus.SUCCESS, run_id=run.record.pk, cursor=run.state.cursor
        )

    # --- the run -----------------------------------------------------------------------
    def copy(self) -> None:
        agents = self.refresh_agents()
        for agent_id in agents:
            try:
                changed = self.changed_sessions(agent_id)
            except (TokenRejected, RateLimited):
                raise
            except ManagerApiError as exc:
                self.failures.agents.append(f"{agent_id}: {exc}")
                logger.warning("manager-api %s: agent %s not listed: %s", self.key, agent_id, exc)
                continue
            for info, answer in self.fetched(agent_id, changed):
                self.copy_session(agent_id, info, answer)
        self.flush()
        if agents and len(self.failures.agents) == len(agents):
            raise ManagerApiError(
                f"no agent's sessions could be listed ({self.failures.agents[0]})"
            )
        self.result.error = self.notes()

    def notes(self) -> str:
        """What a successful run still has to say: sessions or agents skipped."""
        parts = []
        if self.failures.sessions:
            parts.append(
                f"{self.failures.sessions} session(s) could not be read and are retried "
                f"later (first: {self.failures.first})"
            )
        if self.failures.agents:
            parts.append(
                f"{len(self.failures.agents)} agent(s) not listed: {self.failures.agents[0]}"
            )
        if self.failures.audio:
            parts.append(f"{self.failures.audio} audio file(s) could not be fetched")
        return mask_text("; ".join(parts))[:2000]

    def refresh_agents(self) -> list[str]:
        agents = self.client.agents()
        if agents:
            Agent.objects.bulk_create(
                [Agent(source=self.key, agent_id=a.agent_id, name=a.name[:255]) for a in agents],
                update_conflicts=True,
                update_fields=["name", "updated_at"],
                **_conflict_on("source", "agent_id"),
            )
        return [a.agent_id for a in agents]

    def changed_sessions(self, agent_id: str) -> list[SessionInfo]:
        """The agent's sessions to fetch: new, grown, changed, or failed and due again."""
        now = timezone.now()
        changed: list[SessionInfo] = []
        seen: set[str] = set()
        page = 1
        while page <= MAX_PAGES:
            listed = self.client.sessions(agent_id, page=page, limit=self.page_size)
            infos = [i for i in listed.sessions if i.session_id not in seen]
            seen.update(i.session_id for i in infos)
            stored = {
                r.session_id: r
                for r in RemoteSession.objects.filter(
                    source=self.key, agent_id=agent_id, session_id__in=[i.session_id for i in infos]
                )
            }
            fresh = 0
            for info in infos:
                row = stored.get(info.session_id)
                same = (
                    row is not None
                    and row.chat_count == info.chat_count
                    and row.remote_created_at == info.created_at
                )
                if same and not self.full:
                    if row.title != info.title and info.title:
                        self.titles[info.session_id] = info.title
                    continue
                waiting = row is not None and row.next_retry_at and row.next_retry_at > now
                if waiting and not self.full:
                    continue  # failed lately: its retry is due later
                changed.append(info)
                fresh += 1
                if row is not None and row.chat_count >= 0:
                    self.copied[(agent_id, info.session_id)] = _Mark.of(row)
            if not listed.sessions or page * self.page_size >= listed.total:
                break
            if fresh == 0 and not self.scan_all:
                break  # newest first: nothing below this page changed since the last run
            page += 1
        due = RemoteSession.objects.filter(
            source=self.key, agent_id=agent_id, failures__gt=0, next_retry_at__lte=now
        )
        for row in due:
            if row.session_id in seen:
                continue  # listed above, and taken if due
            changed.append(SessionInfo(row.session_id, row.remote_created_at, -1, row.title))
            if row.chat_count >= 0:
                self.copied[(agent_id, row.session_id)] = _Mark.of(row)
        return changed

    def fetched(self, agent_id: str, infos: list[SessionInfo]):
        """(session, future of its messages) in order; HUB_MANAGER_API_CONCURRENCY requests
        in flight, so the server's answers overlap the hub's writes (HTTP only, in threads)."""
        workers = max(1, int(settings.HUB_MANAGER_API_CONCURRENCY))
        readable = []
        for info in infos:
            if len(info.session_id) > SESSION_ID_MAX:
                too_long = BadAnswer(f"session id longer than {SESSION_ID_MAX} characters")
                self.record_failure(agent_id, info, too_long)
            else:
                readable.append(info)
        pending = iter(readable)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="manager-api") as pool:
            window: deque = deque()
            try:
                for info in islice(pending, workers * 2):
                    window.append(
                        (info, pool.submit(self.client.chat_history, agent_id, info.session_id))
                    )
                while window:
                    info, future = window.popleft()
                    following = next(pending, None)
                    if following is not None:
                        window.append(
                            (
                                following,
                                pool.submit(
                                    self.client.chat_history, agent_id, following.session_id
                                ),
                            )
                        )
                    yield info, future
            finally:
                for _info, future in window:
                    future.cancel()

    def copy_session(self, agent_id: str, info: SessionInfo, answer: Future) -> None:
        try:
            items = answer.result()
            rows, rejected = session_rows(agent_id, info.session_id, items, self.adapter.zone)
        except (TokenRejected, RateLimited):
            raise
        except (Unavailable, BadAnswer, ApiRefused) as exc:
            self.record_failure(agent_id, info, exc)
            return
        self.pending.append(_Fetched(agent_id, info, rows, rejected, len(items)))
        self.pending_rows += len(items)
        if self.pending_rows >= self.batch_size:
            self.flush()

    def record_failure(self, agent_id: str, info: SessionInfo, exc: Exception) -> None:
        """Kept on the session's row: the next runs retry it after a growing delay."""
        error = mask_text(str(exc))[:2000]
        logger.warning(
            "manager-api %s: session %s of agent %s skipped: %s",
            self.key,
            info.session_id,
            agent_id,
            error,
        )
        self.failures.sessions += 1
        if not self.failures.first:
            self.failures.first = f"{agent_id}/{info.session_id[:SESSION_ID_MAX]}: {error[:300]}"
        row, _ = RemoteSession.objects.get_or_create(
            source=self.key, agent_id=agent_id, session_id=info.session_id[:100]
        )
        failures = row.failures + 1
        base = settings.HUB_MANAGER_API_SESSION_RETRY
        delay = min(settings.HUB_MANAGER_API_SESSION_RETRY_MAX, base * 2 ** (failures - 1))
        RemoteSession.objects.filter(pk=row.pk).update(
            failures=failures,
            last_error=error,
            next_retry_at=timezone.now() + timedelta(seconds=delay),
        )

    # --- one batch, one transaction --------------------------------------------------------
    def flush(self) -> None:
        batch, self.pending, self.pending_rows = self.pending, [], 0
        if not batch and not self.titles:
            return
        rows = [row for fetched in batch for row in fetched.rows]
        converted, rejected = convert(self.adapter, rows)
        if not self.full:
            converted = self._newer(converted)
        rejected = [r for fetched in batch for r in fetched.rejected] + rejected
        result = self.result
        counts = (result.rows_read, result.rows_written, result.rows_skipped)

        def write() -> None:
            with transaction.atomic():
                self._write(batch, converted, rejected)

        def forget() -> None:
            self.refs.clear()
            result.rows_read, result.rows_written, result.rows_skipped = counts

        try:
            retry_on_lock_conflict(write, before_retry=forget, name="manager-api sync batch")
        except BaseException:
            forget()
            raise
        self.titles.clear()
        if self.source.audio_mode == "sync":
            self.copy_audio(rows)

    def _newer(self, converted: list[Converted]) -> list[Converted]:
        """Without the messages of copied sessions the hub already took: those older than the
        newest one copied, and those of that very second it copied. The hub holds them, or
        deleted them on purpose (retention, a device's history deleted). Messages of that
        second it did not copy yet (written after the last read) are kept."""
        copied = self.copied
        kept = []
        for item in converted:
            mark = copied.get((item.row.agent_id, item.row.session_id))
            if mark is None or mark.until is None or item.created_at > mark.until:
                kept.append(item)
            elif item.created_at == mark.until and item.row.id not in mark.ids:
                kept.append(item)
        return kept

    def _write(self, batch: list[_Fetched], converted: list[Converted], rejected: list[Rejected]):
        key = self.key
        # A batch of sessions never copied before skips the look-up of copied messages.
        fresh = not any((f.agent_id, f.info.session_id) in self.copied for f in batch)
        written = write_messages(converted, self.refs, key, all_fresh=fresh)
        rejected = rejected + written.rejected
        if rejected:
            record_rejected(key, self.run.record.pk, rejected)
        self._store_sessions(batch, converted)
        read = sum(fetched.count for fetched in batch)
        self.run.claim.renew(
            rows_read_total=F("rows_read_total") + read,
            rows_written_total=F("rows_written_total") + written.count,
            rows_skipped_total=F("rows_skipped_total") + len(rejected),
        )
        result = self.result
        result.rows_read += read
        result.rows_written += written.count
        result.rows_skipped += len(rejected)
        runs.record_progress(self.run, result, result.cursor)
        progress = SyncProgressPayload(
            source=key,
            run_id=self.run.record.pk,
            rows_read=result.rows_read,
            rows_written=result.rows_written,
            cursor=str(result.cursor),
        )
        transaction.on_commit(lambda: self._announce(written.payloads, progress))

    def _store_sessions(self, batch: list[_Fetched], converted: list[Converted]) -> None:
        """What each fetched session was when read; titles follow the session list."""
        now = timezone.now()
        latest: dict[tuple[str, str], _Fetched] = {}
        for fetched in batch:
            latest[(fetched.agent_id, fetched.info.session_id)] = fetched
        newest = {key: _Mark(mark.until, set(mark.ids)) for key, mark in self.copied.items()}
        for item in converted:
            key = (item.row.agent_id, item.row.session_id)
            mark = newest.get(key)
            if mark is None or mark.until is None or item.created_at > mark.until:
                newest[key] = _Mark(item.created_at, {item.row.id})
            elif item.created_at == mark.until:
                mark.ids.add(item.row.id)
        empty = _Mark(None, set())
        if latest:
            RemoteSession.objects.bulk_create(
                [
                    RemoteSession(
                        source=self.key,
                        agent_id=agent_id,
                        session_id=session_id,
                        # What was read; if the list was older, the next run reads it once more.
                        chat_count=max(fetched.count, fetched.info.chat_count),
                        remote_created_at=fetched.info.created_at,
                        title=fetched.info.title,
                        failures=0,
                        last_error="",
                        next_retry_at=None,
                        copied_at=now,
                        copied_until=newest.get((agent_id, session_id), empty).until,
                        copied_last=sorted(newest.get((agent_id, session_id), empty).ids),
                    )
                    for (agent_id, session_id), fetched in latest.items()
                ],
                update_conflicts=True,
                update_fields=[
                    "chat_count",
                    "remote_created_at",
                    "title",
                    "failures",
                    "last_error",
                    "next_retry_at",
                    "copied_at",
                    "copied_until",
                    "copied_last",
                    "updated_at",
                ],
                **_conflict_on("source", "agent_id", "session_id"),
            )
        titles = {f.info.session_id: f.info.title for f in batch if f.info.title}
        titles.update(self.titles)
        if self.titles:
            for sid, title in self.titles.items():
                RemoteSession.objects.filter(source=self.key, session_id=sid).update(title=title)
        if titles:
            ChatSession.objects.filter(source=self.key, session_id__in=titles).update(
                title=Case(
                    *[When(session_id=sid, then=Value(t)) for sid, t in titles.items()],
                    default=F("title"),
                )
            )

    def _announce(self, payloads: list[ChatMessagePayload], progress: SyncProgressPayload):
        if payloads:
            events.send_chat_updates(payloads)
        events.send_progress(progress)
        if self.on_batch is not None:
            self.on_batch(progress)

    # --- audio ---------------------------------------------------------------------------
    def copy_audio(self, rows: list[SourceRow]) -> None:
        """Audio of the batch's messages (audio mode "sync"), fetched and stored once."""
        ids = [row.id for row in rows if row.audio_id]
        if not ids:
            return
        if store_audio is None:
            logger.info("manager-api %s: audio storage missing, audio not copied", self.key)
            return
        missing = ChatMessage.objects.filter(
            source=self.key, source_id__in=ids, audio__isnull=True
        ).values_list("id", "audio_id")
        for message_id, audio_id in missing:
            try:
                data = self.client.audio(audio_id)
            except (TokenRejected, RateLimited):
                raise
            except ManagerApiError as exc:
                self.failures.audio += 1
                logger.warning("manager-api %s: audio %s not fetched: %s", self.key, audio_id, exc)
                continue
            if data:
                try:
                    store_audio(message_id=message_id, data=data, content_type="audio/wav")
                except ValueError as exc:  # AudioTooLarge: past HUB_AUDIO_MAX_BYTES
                    self.failures.audio += 1
                    logger.warning("manager-api %s: audio %s not kept: %s", self.key, audio_id, exc)


def _conflict_on(*fields: str) -> dict:
    """bulk_create's unique_fields: required by SQLite, refused by MySQL (any unique key)."""
    return {} if connection.vendor == "mysql" else {"unique_fields": list(fields)}

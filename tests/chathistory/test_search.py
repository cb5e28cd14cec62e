"""The text search's side index (chathistory/search, docs/search.md): the results always
equal a LIKE '%q%' scan within the same filters; the index narrows what is checked."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chathistory import selectors
from chathistory.models import ChatMessage, Device, SearchGram, SearchIndexState
from chathistory.search import index
from chathistory.search.grams import LONG, MAX_GRAMS, document_grams, fold, query_grams
from chathistory.search.query import message_search, search_plan
from chathistory.search.tasks import index_new_messages
from chathistory.sync import run_sync

NOW = timezone.now()

# Texts mixing what a chat holds: Chinese, Latin in both cases, full-width letters and
# punctuation, accents, digits, kana, emoji, spaces.
ALPHABET = (
    "今天天气很好的打开厨房灯音乐播放我你他是不AaBbCcEeÉéÀàßıＡａ，。？！0123４ カか😀 -_%'\""
)
VARIANTS = str.maketrans("AaBbCcEeÉéßı，", "ａＡｂＢcＣéÈeEsI,")
QUERIES = ["天气", "HELLO", "éa", "ＡＡ", "ss", "I"]
texts = st.text(alphabet=ALPHABET, min_size=0, max_size=24)


# --- grams (no database) ------------------------------------------------------------


@given(text=texts, data=st.data())
def test_a_substring_has_no_gram_its_text_lacks(text, data):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    assert set(query_grams(text[start:end])) <= document_grams(text)


def test_grams_fold_case_width_and_accents_as_like_does():
    assert fold("HÉLLO Ｗorld，") == "hello world,"
    assert query_grams("天气") == query_grams("天氣"[:1] + "气")  # same first character
    assert set(query_grams("HELLO")) == set(query_grams("héllo")) <= document_grams("say Hello")
    assert query_grams("天") == [] and query_grams("ab") == []
    assert document_grams("x" * 10 + "".join(chr(0x4E00 + i) for i in range(MAX_GRAMS + 50))) == {
        LONG
    }


def test_a_query_gram_never_spans_a_character_the_fold_table_does_not_cover():
    # U+1F170 (🅰) is "a" in one collation: it may not be part of a query gram.
    assert query_grams("x🅰y") == []
    assert query_grams("ab🅰cde") == query_grams("cde")


# --- with the database ------------------------------------------------------------

pytestmark_db = [pytest.mark.requires_services("mysql", "redis"), pytest.mark.django_db]


def _message(content: str, *, minutes: float = 0, device: Device | None = None, **extra):
    return ChatMessage.objects.create(
        match_key="k",
        chat_type=1,
        role="user",
        content=content,
        device=device,
        created_at=NOW - timedelta(minutes=minutes),
        **extra,
    )


def _like(text: str, **filters) -> list[int]:
    rows = ChatMessage.objects.filter(content__icontains=text, **filters)
    return list(rows.order_by("-created_at", "-id").values_list("pk", flat=True))


@pytest.fixture
def no_grace(settings):
    settings.HUB_SEARCH_GRACE_SECONDS = 0
    settings.HUB_SEARCH_INDEX = True


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db
@hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    contents=st.lists(texts, min_size=1, max_size=12),
    queries=st.lists(
        st.one_of(texts, st.sampled_from(["天气", "HELLO", "éa", "ＡＡ"])), max_size=4
    ),
    picks=st.lists(
        st.tuples(st.integers(0, 11), st.integers(0, 24), st.integers(1, 6)), max_size=4
    ),
    unindexed=st.integers(0, 3),
)
def test_search_equals_a_like_scan(no_grace, contents, queries, picks, unindexed):
    with transaction.atomic():
        messages = [_message(text, minutes=i % 5) for i, text in enumerate(contents)]
        index.index_pending()
        for text in ["tail " + t for t in contents[:unindexed]]:
            messages.append(_message(text))  # above the cursor: not indexed yet
        # Substrings of what is stored, and the random queries.
        for which, start, length in picks:
            text = messages[which % len(messages)].content
            queries.append(text[start : start + length])
            # The same, spelled as LIKE still matches it: other case, width, accents.
            queries.append(text[start : start + length].translate(VARIANTS))
        for query in queries:
            if not query:
                continue
            found = [m.pk for m in message_search(text=query, limit=500)]
            assert found == _like(query), (query, search_plan(text=query))
            listed = selectors.message_queryset(search=query).order_by("-created_at", "-id")
            assert list(listed.values_list("pk", flat=True)) == found
        transaction.set_rollback(True)


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db
def test_the_index_is_what_narrows_the_search(no_grace):
    first = _message("今天天气怎么样", minutes=3)
    _message("明天的天气", minutes=2)
    _message("hello world", minutes=1)
    done = index.index_pending()
    assert done["messages"] == 3 and done["cursor"] == ChatMessage.objects.latest("pk").pk
    plan = search_plan(text="天气")
    assert plan.mode == "index" and len(plan.ids) == 2
    assert [m.content for m in message_search(text="天气")] == ["明天的天气", "今天天气怎么样"]
    assert [m.content for m in message_search(text="WORLD")] == ["hello world"]
    # Content changed behind the index's back: a LIKE scan would find it, the index not
    # (this proves the index is used); reindex() puts it right.
    ChatMessage.objects.filter(pk=first.pk).update(content="打开厨房的灯")
    assert message_search(text="厨房") == [] and _like("厨房") == [first.pk]
    assert index.reindex([first.pk]) > 0
    assert [m.pk for m in message_search(text="厨房")] == [first.pk]
    # The stale grams of the old content add a candidate, never a result.
    assert [m.content for m in message_search(text="天气")] == ["明天的天气"]


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db
def test_new_messages_are_found_before_they_are_indexed(settings, no_grace):
    _message("旧的天气")
    index.index_pending()
    settings.HUB_SEARCH_GRACE_SECONDS = 3600
    young = _message("新的天气")
    assert index.index_pending()["messages"] == 0  # in the grace period: not indexed yet
    assert search_plan(text="天气").mode == "index"
    assert [m.content for m in message_search(text="天气")] == ["新的天气", "旧的天气"]
    settings.HUB_SEARCH_GRACE_SECONDS = 0
    assert index.index_pending()["cursor"] == young.pk
    assert SearchGram.objects.filter(message_id=young.pk).exists()


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db
def test_deleted_messages_are_never_returned_and_pruned(no_grace):
    gone, kept, forgotten = _message("天气一"), _message("天气二"), _message("天气三")
    index.index_pending()
    gone.delete()
    assert [m.pk for m in message_search(text="天气")] == [forgotten.pk, kept.pk]
    assert index.forget([forgotten.pk]) == len(document_grams("天气三"))
    forgotten.delete()
    assert index.prune() == len(document_grams("天气一"))
    assert set(SearchGram.objects.values_list("message_id", flat=True)) == {kept.pk}
    assert index.prune() == 0


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db
def test_short_common_and_long_queries_fall_back_to_the_scan(settings, no_grace):
    long_text = "长" + "".join(chr(0x4E00 + i) for i in range(MAX_GRAMS + 50)) + "天气"
    for i in range(5):
        _message(f"天气{i}", minutes=i)
    long_message = _message(long_text, minutes=10)
    index.index_pending()
    assert search_plan(text="天").mode == "scan"
    assert [m.pk for m in message_search(text="天")] == _like("天")
    # The long message is stored under the LONG gram only, and still found.
    assert list(
        SearchGram.objects.filter(message_id=long_message.pk).values_list("gram", flat=True)
    ) == [LONG]
    assert [m.pk for m in message_search(text="天气")] == _like("天气")
    assert long_message.pk in _like("天气")
    settings.HUB_SEARCH_CANDIDATE_LIMIT = 2
    assert search_plan(text="天气").reason == "too many candidates"
    assert [m.pk for m in message_search(text="天气")] == _like("天气")
    settings.HUB_SEARCH_CANDIDATE_LIMIT = 5000
    settings.HUB_SEARCH_DRIVE_LIMIT = 3  # 天气 is in 6 messages: common
    assert search_plan(text="天气").reason == "every gram is common"
    assert search_plan(text="天气").reason == "every gram is common"  # remembered
    assert [m.pk for m in message_search(text="天气")] == _like("天气")
    settings.HUB_SEARCH_INDEX = False
    assert search_plan(text="天气").reason == "index turned off"


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db
def test_filters_and_the_before_cursor(no_grace):
    kitchen = Device.objects.create(mac="aa:bb:cc:00:30:01")
    garden = Device.objects.create(mac="aa:bb:cc:00:30:02", source="lab")
    a = _message("厨房的天气", minutes=1, device=kitchen)
    b = _message("花园的天气", minutes=2, device=garden, source="lab")
    c = _message("又是天气", minutes=3, device=kitchen)
    index.index_pending()
    assert [m.pk for m in message_search(text="天气", device_pk=kitchen.pk)] == [a.pk, c.pk]
    assert [m.pk for m in message_search(text="天气", source="lab")] == [b.pk]
    page = message_search(text="天气", limit=2)
    assert [m.pk for m in page] == [a.pk, b.pk]
    last = page[-1]
    rest = message_search(text="天气", before=(last.created_at, last.pk))
    assert [m.pk for m in rest] == [c.pk]
    since = NOW - timedelta(minutes=2, seconds=30)
    assert [m.pk for m in message_search(text="天气", since=since)] == [a.pk, b.pk]
    assert message_search(text="天气", limit=-5) == []


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db
def test_rest_search_uses_the_index_and_treats_hostile_text_as_text(admin_client, no_grace):
    first = _message("50% off_sale 天气")
    _message("' OR 1=1 -- 天气")
    index.index_pending()
    ChatMessage.objects.filter(pk=first.pk).update(content="50% off_sale 天气 下雨")
    found = admin_client.get("/api/v2/messages", {"q": "下雨"}).json()["results"]
    assert found == []  # the index (not reindexed) is what the REST search reads
    index.reindex([first.pk])
    for query, expected in [
        ("天气 下雨", ["50% off_sale 天气 下雨"]),
        ("0% OFF_", ["50% off_sale 天气 下雨"]),
        ("% off", ["50% off_sale 天气 下雨"]),
        ("' or 1=1 --", ["' OR 1=1 -- 天气"]),
        ("%%%", []),
        ("___", []),
        ("\x00天气", []),
    ]:
        response = admin_client.get("/api/v2/messages", {"q": query})
        assert response.status_code in (200, 400), query
        if response.status_code == 200:
            assert [m["content"] for m in response.json()["results"]] == expected, query


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db
def test_command_and_task(no_grace):
    _message("天气很好")
    out = StringIO()
    call_command("chat_search_index", "build", stdout=out)
    assert "1" in out.getvalue()
    status = StringIO()
    call_command("chat_search_index", "status", stdout=status)
    assert '"ids_behind": 0' in status.getvalue()
    _message("明天下雨")
    assert index_new_messages()["messages"] == 1
    call_command("chat_search_index", "rebuild", stdout=StringIO())
    state = SearchIndexState.objects.get()
    assert state.messages_indexed == 2 and state.rebuilt_at is not None
    assert [m.content for m in message_search(text="下雨")] == ["明天下雨"]
    call_command("chat_search_index", "prune", stdout=StringIO())
    call_command("chat_search_index", "reindex", "1", "2", stdout=StringIO())
    assert connection.vendor == "mysql"


@pytest.mark.requires_services("mysql", "redis")
def test_a_source_row_edited_and_read_again_is_found_by_its_new_text(esp32, no_grace):
    row = esp32.write(content="我想订一张去北京的火车票")
    assert run_sync(trigger="test").status == "success"
    index.index_pending()
    esp32.execute(
        "UPDATE ai_agent_chat_history SET content = %s WHERE id = %s",
        ["我想订一张去上海的机票", row],
    )
    # A targeted refresh reads the device's rows again: the edit reaches the hub and the
    # index (below its cursor, the message is found through its grams only).
    assert run_sync(trigger="test", device="aa:bb:cc:dd:ee:01").status == "success"
    assert search_plan(text="上海的机票").mode == "index"
    assert [m.content for m in message_search(text="上海的机票")] == ["我想订一张去上海的机票"]
    assert message_search(text="北京的火车票") == []

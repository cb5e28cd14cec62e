"""Whether a message's audio may be copied and played.

Two switches, both must allow it:
- the source's audio mode (Source.audio_mode): "off" means never copied and never
  played, whatever rows exist; a message whose source has no Source row is "off";
- the message's agent: an agent whose chat_history_conf is known and is not 2
  ("text and audio") has no audio. A message without an agent, or whose agent's
  setting is unknown, is decided by the audio itself being there.
"""

from __future__ import annotations

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q
from django.utils.translation import gettext as _

from ..models import AudioMode, ChatAudio, ChatMessage, Source

AGENT_KEEPS_AUDIO = 2  # ai_agent.chat_history_conf: 0 none, 1 text, 2 text + audio


def source_audio_mode(*, source: str) -> str:
    """The audio mode of the source with key `source` ("off" when there is no such row)."""
    mode = Source.objects.filter(key=source).values_list("audio_mode", flat=True).first()
    return mode or AudioMode.OFF


def agent_allows_audio() -> Q:
    """Messages whose agent does not rule audio out (for ChatMessage querysets)."""
    return (
        Q(agent__isnull=True)
        | Q(agent__chat_history_conf__isnull=True)
        | Q(agent__chat_history_conf=AGENT_KEEPS_AUDIO)
    )


def audio_refusal(*, message: ChatMessage, mode: str | None = None) -> str | None:
    """Why the message's audio may not be played (None: it may). `mode`: the source's
    audio mode when the caller has read it already."""
    mode = mode or source_audio_mode(source=message.source)
    if mode == AudioMode.OFF:
        return _("audio is turned off for the source %(source)s") % {"source": message.source}
    conf = message.agent.chat_history_conf if message.agent_id else None
    if conf is not None and conf != AGENT_KEEPS_AUDIO:
        return _("the agent %(agent)s keeps no audio (chat_history_conf is %(conf)s, not 2)") % {
            "agent": message.agent.agent_id,
            "conf": conf,
        }
    return None


def playable_audio() -> Q:
    """ChatMessage rows whose audio the transcript offers to play (an <audio> element):
    the source's audio is on, the agent does not rule it out, and either a copy is
    stored or the message names an audio id the source was not found to lack. The route
    may still answer 404 if the source lost it since."""
    sources_on = Source.objects.filter(key=OuterRef("source")).exclude(audio_mode=AudioMode.OFF)
    stored = ChatAudio.objects.filter(message_id=OuterRef("pk"))
    fetchable = Q(audio_id__isnull=False) & ~Q(audio_id="") & ~Exists(stored.filter(missing=True))
    return (
        agent_allows_audio()
        & Exists(sources_on)
        & (Exists(stored.filter(missing=False)) | fetchable)
    )


def playable_audio_expression() -> ExpressionWrapper:
    """`playable_audio()` as a boolean column, for `.values(audio=...)`."""
    return ExpressionWrapper(playable_audio(), output_field=BooleanField())


def message_ids_with_audio(*, message_ids) -> set[int]:
    """Which of these messages have audio to play (for live payloads: one query)."""
    ids = list(message_ids)
    if not ids:
        return set()
    return set(
        ChatMessage.objects.filter(playable_audio(), pk__in=ids).values_list("pk", flat=True)
    )

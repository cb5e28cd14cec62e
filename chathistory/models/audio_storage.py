"""Where chat audio files live: the named storage "chat_audio" (Django's STORAGES).

When settings.STORAGES names no "chat_audio" storage, a local folder is used:
HUB_AUDIO_DIR, by default <HUB_DATA_DIR>/audio. S3-compatible storage is a
"chat_audio" entry with django-storages' S3 backend (docs/audio.md).

The storage is resolved on first use and again after the settings change (tests),
so ChatAudio.file's storage never pins the storage of the moment the model loaded.
File names come from the message's primary key and its source's key (a slug):
nothing a user or a source controls.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty

STORAGE_ALIAS = "chat_audio"


def local_audio_dir() -> Path:
    """The folder of the local storage (when STORAGES has no "chat_audio")."""
    configured = getattr(settings, "HUB_AUDIO_DIR", None)
    if configured:
        return Path(configured)
    return Path(getattr(settings, "DATA_DIR", Path(settings.BASE_DIR) / "data")) / "audio"


def _resolve():
    if STORAGE_ALIAS in settings.STORAGES:
        return storages[STORAGE_ALIAS]
    # base_url=None: files are never served by URL, only through the audio route.
    return FileSystemStorage(location=local_audio_dir(), base_url=None, allow_overwrite=True)


class _ChatAudioStorage(LazyObject):
    def _setup(self):
        self._wrapped = _resolve()


_storage = _ChatAudioStorage()


@receiver(setting_changed)
def _settings_changed(*, setting, **kwargs):
    if setting in {"STORAGES", "HUB_AUDIO_DIR", "DATA_DIR"}:
        _storage._wrapped = empty


def chat_audio_storage():
    """ChatAudio.file's storage (a callable: migrations name it, not its value)."""
    return _storage


def audio_file_name(*, source: str, message_id: int, extension: str = "wav") -> str:
    """`<source>/<last three digits>/<message pk>.<ext>`: at most 1000 folders per source.

    A source key is a slug; anything else in it becomes `_` (never a path separator)."""
    folder = re.sub(r"[^A-Za-z0-9_-]", "_", source or "") or "_"
    return f"{folder}/{int(message_id) % 1000:03d}/{int(message_id)}.{extension}"


def chat_audio_upload_to(instance, filename: str) -> str:
    """ChatAudio.file's names (for FileField.save): the given name's extension only."""
    extension = Path(filename).suffix.lstrip(".").lower()
    if extension not in {"wav", "ogg", "opus", "mp3"}:
        extension = "bin"
    return audio_file_name(
        source=instance.source, message_id=instance.message_id, extension=extension
    )

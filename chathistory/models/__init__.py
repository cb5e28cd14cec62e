"""The chat-history app's models, one module per concern (re-exported here)."""

from .chat import (
    Agent,
    ChatAudio,
    ChatMessage,
    ChatSession,
    Device,
    IngestBucket,
    Role,
    RunStatus,
    SkippedRow,
    SyncBucket,
    SyncGap,
    SyncRun,
    SyncState,
    SyncStatus,
)
from .manager_api import RemoteSession
from .retention import DeletedDevice, RetentionPolicy, RetentionRun, RetentionScope
from .search import SearchGram, SearchIndexState
from .source import DEFAULT_SOURCE, AudioMode, Source, SourceKind

__all__ = [
    "DEFAULT_SOURCE",
    "Agent",
    "AudioMode",
    "ChatAudio",
    "ChatMessage",
    "ChatSession",
    "DeletedDevice",
    "Device",
    "IngestBucket",
    "RemoteSession",
    "RetentionPolicy",
    "RetentionRun",
    "RetentionScope",
    "Role",
    "RunStatus",
    "SearchGram",
    "SearchIndexState",
    "SkippedRow",
    "Source",
    "SourceKind",
    "SyncBucket",
    "SyncGap",
    "SyncRun",
    "SyncState",
    "SyncStatus",
]

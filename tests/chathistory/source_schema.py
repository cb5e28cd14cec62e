"""The xiaozhi-esp32-server tables the hub reads, as that server creates them.

The schema is described in docs/protocols.md, "Chat-history source".

Shared by the tests and bench/chat_sync.py; `SourceDatabase` creates a
throw-away source database on the test MariaDB and writes rows the way
manager-api does (one short transaction per message).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import MySQLdb

DDL = [
    """CREATE TABLE ai_agent_chat_history (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        mac_address VARCHAR(50) NULL COMMENT 'MAC',
        agent_id VARCHAR(32) NULL,
        session_id VARCHAR(50) NULL,
        chat_type TINYINT(3) NULL COMMENT '1 user 2 agent 3 tool',
        content TEXT NULL,
        audio_id VARCHAR(32) NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
            ON UPDATE CURRENT_TIMESTAMP(3),
        INDEX idx_ai_agent_chat_history_mac (mac_address),
        INDEX idx_ai_agent_chat_history_session_id (session_id),
        INDEX idx_ai_agent_chat_history_agent_id (agent_id),
        INDEX idx_ai_agent_chat_history_audio_id (audio_id),
        INDEX idx_agent_session_created (agent_id, session_id, created_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    """CREATE TABLE ai_agent_chat_audio (
        id VARCHAR(32) NOT NULL PRIMARY KEY,
        audio LONGBLOB NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE ai_device (
        id VARCHAR(32) NOT NULL PRIMARY KEY,
        user_id BIGINT NULL,
        mac_address VARCHAR(50) NULL,
        last_connected_at DATETIME NULL,
        auto_update TINYINT UNSIGNED DEFAULT 0,
        board VARCHAR(50) NULL,
        alias VARCHAR(64) NULL,
        agent_id VARCHAR(32) NULL,
        app_version VARCHAR(20) NULL,
        sort INT UNSIGNED DEFAULT 0,
        creator BIGINT NULL,
        create_date DATETIME NULL,
        updater BIGINT NULL,
        update_date DATETIME NULL,
        INDEX idx_ai_device_mac_address (mac_address)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE ai_agent (
        id VARCHAR(32) NOT NULL PRIMARY KEY,
        user_id BIGINT NULL,
        agent_code VARCHAR(36) NULL,
        agent_name VARCHAR(64) NULL,
        chat_history_conf TINYINT NOT NULL DEFAULT 0,
        creator BIGINT NULL,
        created_at DATETIME NULL,
        updater BIGINT NULL,
        updated_at DATETIME NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE ai_agent_chat_title (
        id VARCHAR(32) NOT NULL PRIMARY KEY,
        session_id VARCHAR(50) NOT NULL,
        title VARCHAR(255) NULL,
        created_at DATETIME NULL DEFAULT CURRENT_TIMESTAMP,
        updated_at DATETIME NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
        UNIQUE KEY uk_session_id (session_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
]
TABLES = [
    "ai_agent_chat_history",
    "ai_agent_chat_audio",
    "ai_device",
    "ai_agent",
    "ai_agent_chat_title",
]

INSERT_CHAT = (
    "INSERT INTO ai_agent_chat_history "
    "(mac_address, agent_id, session_id, chat_type, content, audio_id, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, COALESCE(%s, CURRENT_TIMESTAMP(3)))"
)


def source_name_for(mysql_url: str) -> str:
    """A source database named after the hub's, so parallel runs never share one."""
    hub_db = urlsplit(mysql_url).path.lstrip("/") or "hub"
    return f"{hub_db}_esp32_source"


class SourceDatabase:
    def __init__(self, mysql_url: str, name: str | None = None):
        parts = urlsplit(mysql_url)
        self.server = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 3306,
            "user": parts.username or "root",
            "passwd": parts.password or "",
        }
        self.name = name or source_name_for(mysql_url)
        base = mysql_url.rsplit("/", 1)[0]
        self.url = f"{base}/{self.name}"

    def connect(self, *, database: bool = True, autocommit: bool = False) -> MySQLdb.Connection:
        conn = MySQLdb.connect(
            **self.server, db=self.name if database else "", charset="utf8mb4", local_infile=1
        )
        conn.autocommit(autocommit)
        return conn

    def create(self) -> None:
        conn = self.connect(database=False, autocommit=True)
        cursor = conn.cursor()
        cursor.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
        cursor.execute(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4")
        cursor.execute(f"USE `{self.name}`")
        for statement in DDL:
            cursor.execute(statement)
        conn.close()

    def truncate(self) -> None:
        conn = self.connect(autocommit=True)
        for table in TABLES:
            conn.cursor().execute(f"TRUNCATE TABLE {table}")
        conn.close()

    def drop(self) -> None:
        conn = self.connect(database=False, autocommit=True)
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{self.name}`")
        conn.close()

    def execute(self, sql: str, params=None) -> list[tuple]:
        conn = self.connect(autocommit=True)
        try:
            cursor = conn.cursor()
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        finally:
            conn.close()

    def insert(
        self,
        conn,
        *,
        mac="aa:bb:cc:dd:ee:01",
        agent="agent1",
        session="s1",
        chat_type=1,
        content="hello",
        audio_id=None,
        created_at=None,
    ) -> int:
        cursor = conn.cursor()
        cursor.execute(INSERT_CHAT, (mac, agent, session, chat_type, content, audio_id, created_at))
        return cursor.lastrowid

    def write(self, **row) -> int:
        """One message in its own committed transaction, like manager-api."""
        conn = self.connect()
        try:
            row_id = self.insert(conn, **row)
            conn.commit()
            return row_id
        finally:
            conn.close()

    def rows(self) -> list[tuple]:
        return self.execute(
            "SELECT id, mac_address, session_id, chat_type, content, created_at "
            "FROM ai_agent_chat_history ORDER BY id"
        )

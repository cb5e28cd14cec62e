"""retry_on_lock_conflict against real InnoDB deadlocks and lock wait timeouts on MariaDB.

A second client (its own MySQLdb connection, in a thread) locks the same two
rows in the opposite order. It first writes a ballast of rows, so InnoDB,
which rolls back the lighter transaction of a deadlock, picks the one under test.
"""

import threading
import time

import MySQLdb
import pytest
from django.db import OperationalError, connection, transaction

from xiaozhi_hub.transactions import retry_on_lock_conflict

pytestmark = [
    pytest.mark.requires_services("mysql"),
    pytest.mark.django_db(transaction=True),
]

TABLE = "test_retry_probe"
A, B = 1, 2
LOCK_A = f"SELECT n FROM {TABLE} WHERE id = {A} FOR UPDATE"


@pytest.fixture
def rows():
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {TABLE} (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB")
        cursor.execute(f"INSERT INTO {TABLE} VALUES ({A}, 0), ({B}, 0)")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TABLE}")


def values() -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, n FROM {TABLE}")
        return dict(cursor.fetchall())


class Opponent(threading.Thread):
    """Another client's transaction: locks B, then waits for A; never commits anything."""

    def __init__(self, *, hold_until: threading.Event | None = None):
        super().__init__(daemon=True)
        db = connection.settings_dict
        self.conn = MySQLdb.connect(
            host=db["HOST"] or "127.0.0.1",
            port=int(db["PORT"] or 3306),
            user=db["USER"],
            passwd=db["PASSWORD"],
            db=db["NAME"],
        )
        self.conn.autocommit(False)
        self.thread_id = self.conn.thread_id()  # read now: the thread owns the connection
        self.hold_until = hold_until
        self.holding = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        cursor = self.conn.cursor()
        try:
            ballast = ",".join(f"({1000 + i}, 0)" for i in range(200))
            cursor.execute(f"INSERT INTO {TABLE} VALUES {ballast}")
            if self.hold_until is not None:  # hold A until told, so the other times out
                cursor.execute(LOCK_A)
                self.holding.set()
                self.hold_until.wait(30)
            else:
                cursor.execute(f"SELECT n FROM {TABLE} WHERE id = {B} FOR UPDATE")
                cursor.execute(LOCK_A)
        except BaseException as exc:  # noqa: BLE001 - checked by the test
            self.error = exc
        finally:
            self.conn.rollback()
            self.conn.close()

    def wait_until_blocked(self) -> None:
        """Until this client runs its request for A, which waits for the test's lock on A."""
        deadline = time.monotonic() + 10
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute(
                    "SELECT info FROM information_schema.PROCESSLIST WHERE id = %s",
                    [self.thread_id],
                )
                if cursor.fetchone() == (LOCK_A,):
                    return
                time.sleep(0.01)
        raise TimeoutError(f"the opponent never asked for A ({self.error!r})")


class Work:
    """The unit under test: lock A, then update B and A; the first `conflicts` runs deadlock."""

    def __init__(self, conflicts: int):
        self.conflicts = conflicts
        self.calls = 0
        self.opponents: list[Opponent] = []

    def __call__(self) -> str:
        self.calls += 1
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(LOCK_A)
            if self.calls <= self.conflicts:
                opponent = Opponent()
                self.opponents.append(opponent)
                opponent.start()
                opponent.wait_until_blocked()  # it holds B and waits for our A
            cursor.execute(f"UPDATE {TABLE} SET n = n + 1 WHERE id = {B}")
            cursor.execute(f"UPDATE {TABLE} SET n = n + 1 WHERE id = {A}")
        return f"done on call {self.calls}"

    def join(self) -> None:
        for opponent in self.opponents:
            opponent.join(10)
            assert opponent.error is None, opponent.error


def test_a_deadlocked_transaction_is_run_again_and_succeeds(rows):
    work, undone = Work(conflicts=2), []
    result = retry_on_lock_conflict(work, attempts=3, before_retry=lambda: undone.append(1))
    work.join()
    assert result == "done on call 3"
    assert len(undone) == 2  # once before each new attempt
    assert values() == {A: 1, B: 1}  # the work committed exactly once


def test_it_gives_up_after_the_bound_with_the_database_error(rows):
    work = Work(conflicts=99)
    with pytest.raises(OperationalError) as raised:
        retry_on_lock_conflict(work, attempts=3)
    work.join()
    assert raised.value.args[0] == 1213 and "Deadlock" in raised.value.args[1]
    assert work.calls == 3
    assert values() == {A: 0, B: 0}


def test_a_lock_wait_timeout_is_retried_too(rows):
    release = threading.Event()
    holder = Opponent(hold_until=release)
    holder.start()
    assert holder.holding.wait(10)
    calls = []

    def work() -> None:
        calls.append(1)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {TABLE} SET n = n + 1 WHERE id = {A}")

    with connection.cursor() as cursor:
        cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
    try:
        retry_on_lock_conflict(work, before_retry=release.set)
    finally:
        release.set()
        holder.join(10)
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = DEFAULT")
    assert len(calls) == 2 and values()[A] == 1


def test_other_errors_and_nested_transactions_are_not_retried(rows):
    calls = []

    def broken() -> None:
        calls.append(1)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT no_such_column FROM {TABLE}")

    with pytest.raises(OperationalError) as raised:
        retry_on_lock_conflict(broken)
    assert raised.value.args[0] == 1054 and len(calls) == 1

    # Inside an outer transaction only its owner can run it again: one attempt.
    work = Work(conflicts=1)
    with pytest.raises(OperationalError) as raised, transaction.atomic():
        retry_on_lock_conflict(work)
    work.join()
    assert raised.value.args[0] == 1213 and work.calls == 1

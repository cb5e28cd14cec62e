import asyncio
import threading

import pytest

from xiaozhi_hub.runtime import BackgroundRuntime


def test_services_start_with_the_runtime_and_are_cancelled_on_stop():
    runtime = BackgroundRuntime()
    started, cleaned_up = threading.Event(), threading.Event()

    async def service():
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned_up.set()

    runtime.register("waiter", service)
    runtime.start()
    assert started.wait(2) and runtime.running
    runtime.stop()
    assert cleaned_up.is_set()
    assert not runtime.running


def test_a_crashing_service_is_restarted_and_others_keep_running():
    runtime = BackgroundRuntime(restart_delay=0.01)
    attempts, healthy = [], threading.Event()

    async def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("boom")
        await asyncio.Event().wait()

    async def steady():
        healthy.set()
        await asyncio.Event().wait()

    runtime.register("flaky", flaky)
    runtime.register("steady", steady)
    runtime.start()
    try:
        assert healthy.wait(2)
        for _ in range(200):
            if len(attempts) >= 3:
                break
            threading.Event().wait(0.01)
        assert len(attempts) == 3
        assert runtime.restarts["flaky"] == 2
    finally:
        runtime.stop()


def test_register_while_running_and_submit_from_another_thread():
    runtime = BackgroundRuntime()
    runtime.start()
    try:
        late = threading.Event()

        async def late_service():
            late.set()
            await asyncio.Event().wait()

        runtime.register("late", late_service)
        assert late.wait(2)

        async def which_thread():
            return threading.current_thread().name

        assert runtime.submit(which_thread()).result(2) == "hub-runtime"
    finally:
        runtime.stop()


def test_duplicate_names_and_submit_when_stopped_are_refused():
    runtime = BackgroundRuntime()

    async def noop():
        return None

    runtime.register("one", noop)
    with pytest.raises(ValueError, match="already registered"):
        runtime.register("one", noop)
    with pytest.raises(RuntimeError, match="not running"):
        runtime.submit(noop())

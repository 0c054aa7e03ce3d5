"""The intake loop of the task workers: callbacks only commit inbox rows; the loop claims every
due event (no task is queued per callback), and several loops split the work."""

from __future__ import annotations

import threading

import pytest

from kjda.connectors import processing, tasks
from kjda.connectors.models import InboxEvent
from kjda.connectors.services import connector_create
from kjda.connectors.tasks import intake_loop
from kjda_oasim.dingtalk import DingTalkSim

pytestmark = pytest.mark.django_db(transaction=True)


def test_loops_process_every_received_event_once(monkeypatch):
    connector = connector_create(kind="dingtalk", name="钉钉",
                                 settings=DingTalkSim().connector_settings())
    for n in range(30):
        InboxEvent.objects.create(connector=connector, event_id=f"e{n}", instance_id=f"PI-{n}",
                                  action="approved", payload={})
    InboxEvent.objects.create(connector=connector, event_id="ign", instance_id="PI-x",
                              action="ignored", status="ignored", payload={})
    done: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def process(*, event_pk: int) -> str:
        if processing.inbox_claim(event_pk=event_pk) is None:
            return "skipped"
        InboxEvent.objects.filter(pk=event_pk).update(status="done", lease_until=None)
        with lock:
            done.append(event_pk)
            if len(done) == 30:
                stop.set()
        return "done"

    monkeypatch.setattr(tasks, "inbox_process", process)  # what the loop calls
    loops = [threading.Thread(target=intake_loop, kwargs={"index": i, "count": 2, "idle": 0.05,
                                                          "stop": stop}) for i in range(2)]
    for loop in loops:
        loop.start()
    assert stop.wait(30)
    for loop in loops:
        loop.join(10)
    assert sorted(done) == sorted(InboxEvent.objects.filter(action="approved")
                                  .values_list("pk", flat=True))
    assert InboxEvent.objects.get(event_id="ign").status == "ignored"


def test_archiving_holds_back_while_callbacks_arrive(settings, tmp_path):
    import os
    import time

    from kjda.connectors.services import callbacks_marker
    from kjda.connectors.tasks import _hold_back_while_callbacks_arrive

    settings.DATA_DIR = tmp_path
    stop = threading.Event()
    started = time.monotonic()
    _hold_back_while_callbacks_arrive(stop)  # no marker: no callbacks yet
    assert time.monotonic() - started < 0.05
    callbacks_marker().touch()  # a callback was just committed
    started = time.monotonic()
    _hold_back_while_callbacks_arrive(stop, quiet=0.3)
    assert 0.25 <= time.monotonic() - started < 1.0
    os.utime(callbacks_marker(), (time.time() - 10, time.time() - 10))
    started = time.monotonic()
    _hold_back_while_callbacks_arrive(stop)
    assert time.monotonic() - started < 0.05
    callbacks_marker().touch()  # a storm that goes on: archiving waits at most `longest`
    started = time.monotonic()
    _hold_back_while_callbacks_arrive(stop, quiet=5.0, longest=0.3)
    assert 0.25 <= time.monotonic() - started < 1.0

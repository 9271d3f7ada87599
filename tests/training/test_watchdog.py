"""The collective watchdog: an armed section that overruns aborts the
collectives (once, naming what was waiting); short or disarmed ones never."""

import threading
import time

import pytest

from mmvision.distribute.watchdog import CollectiveWatchdog


class _Recording(CollectiveWatchdog):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.aborted = []
        self.event = threading.Event()

    def _abort(self, what):  # the real one poisons this process's collectives
        self.aborted.append(what)
        self.event.set()


def test_an_overrunning_section_aborts_once_naming_it():
    with _Recording(timeout=0.2, poll=0.02) as dog:
        with dog.armed("step 3 of epoch 2"):
            assert dog.event.wait(5.0)
            time.sleep(0.2)  # more polls: it fires once
    assert dog.aborted == ["step 3 of epoch 2"]
    assert dog.fired == "step 3 of epoch 2"


def test_short_and_disarmed_sections_never_abort():
    with _Recording(timeout=0.3, poll=0.02) as dog:
        for i in range(10):  # many short sections: 0.5 s in all, each 0.05 s
            with dog.armed(f"step {i}"):
                time.sleep(0.05)
        time.sleep(0.6)  # disarmed for longer than the timeout
    assert dog.aborted == [] and dog.fired is None


def test_the_section_timer_restarts_at_every_arming():
    with _Recording(timeout=0.25, poll=0.02) as dog:
        with dog.armed("first"):
            time.sleep(0.15)
        with dog.armed("second"):
            time.sleep(0.15)
    assert dog.aborted == []


def test_the_thread_stops_with_the_block():
    with _Recording(timeout=1.0, poll=0.02) as dog:
        assert dog._thread.is_alive()
    assert not dog._thread.is_alive()


@pytest.mark.parametrize("bad", [0, -1, None])
def test_a_timeout_must_be_positive(bad):
    with pytest.raises(ValueError, match="positive"):
        CollectiveWatchdog(bad)

"""LatestSlot: newest wins, overwrites are counted, every wait is bounded, close wakes waiters."""
from __future__ import annotations

import threading
import time

from streamer.core.handoff import LatestSlot


def test_newest_wins_and_overwrites_are_counted():
    slot: LatestSlot[int] = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.get(0.1) == 4
    assert slot.dropped == 4 and slot.put_count == 5
    assert slot.get(0.05) is None  # taken: nothing new


def test_get_waits_at_most_its_timeout():
    slot: LatestSlot[int] = LatestSlot()
    t0 = time.monotonic()
    assert slot.get(0.2) is None
    assert 0.15 <= time.monotonic() - t0 < 1.0


def test_close_wakes_a_waiter_at_once():
    slot: LatestSlot[int] = LatestSlot()
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(slot.get(10.0)))
    waiter.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    slot.close()
    waiter.join(2.0)
    assert not waiter.is_alive() and got == [None] and time.monotonic() - t0 < 1.0
    assert slot.closed

"""Hand-offs between pipeline stages: a one-slot mailbox that is "latest wins" for live sources (a put overwrites and
counts the drop) or lossless for files (`offer` waits until the consumer took the previous item: back-pressure)."""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Mailbox:
    """What every hand-off shares: one condition, the counters, and closing (wakes every waiter; later gets return
    at once)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.put_count = 0

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class LatestSlot(_Mailbox, Generic[T]):
    """Holds at most one item; a put replaces the unread item (counted as dropped), so producers never block
    and consumers always get the newest. `get` waits with a timeout and returns None when nothing new arrived."""

    def __init__(self) -> None:
        super().__init__()
        self._item: T | None = None
        self._listener: Callable[[], None] | None = None

    def listen(self, callback: Callable[[], None] | None) -> None:
        """Call `callback` (outside the slot's lock, so it may take its own) after every item put: a consumer that
        waits on several slots at once wakes on any of them."""
        self._listener = callback

    def put(self, item: T) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self.put_count += 1
            self._cond.notify_all()
        self._notify()

    def _notify(self) -> None:
        listener = self._listener
        if listener is not None:
            listener()

    def offer(self, item: T, timeout: float) -> bool:
        """Lossless put: wait up to `timeout` s for the slot to be empty, then put. False (nothing put) when it stayed
        full or the slot is closed; the producer checks its own stop flag and offers again."""
        with self._cond:
            if self._item is not None and not self._closed:
                self._cond.wait_for(lambda: self._item is None or self._closed, timeout)
            if self._item is not None or self._closed:
                return False
            self._item = item
            self.put_count += 1
            self._cond.notify_all()
        self._notify()
        return True

    def wait_empty(self, timeout: float) -> bool:
        """Wait up to `timeout` s until the consumer took the waiting item; True when the slot is empty."""
        with self._cond:
            return self._cond.wait_for(lambda: self._item is None or self._closed, timeout) and self._item is None

    def peek(self, timeout: float) -> T | None:
        """The waiting item without taking it (it stays for the consumer), waiting up to `timeout` s for one."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            return self._item

    def get(self, timeout: float) -> T | None:
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            if item is not None:
                self._cond.notify_all()  # a lossless producer waits for the slot to empty
            return item

    @property
    def pending(self) -> bool:
        """An item is waiting to be taken."""
        return self._item is not None


class BoundedQueue(_Mailbox, Generic[T]):
    """A FIFO of at most `size` items with LatestSlot's interface, for a consumer that must see frames in order (the
    recorder): a put into a full queue drops the new item and counts it, so the producer never blocks."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._items: deque[T] = deque()
        self._size = max(1, size)

    def put(self, item: T) -> None:
        with self._cond:
            self.put_count += 1
            if len(self._items) >= self._size:
                self.dropped += 1
                return
            self._items.append(item)
            self._cond.notify_all()

    def get(self, timeout: float) -> T | None:
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    @property
    def pending(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

"""Slowing down repeated failed sign-ins, per user name and per client, in bounded memory.

Each key (a user name, a client address) may fail `free` times; after that every further failure doubles the wait
before the next attempt is even checked (1 s, 2 s, 4 s … up to `cap`). While a key waits, attempts are refused
without hashing anything, so a guesser gets a handful of tries a minute and burns no CPU. Failures are forgotten
`forget` seconds after the last one, and a success clears its user's count (not its client's: one's own account
cannot buy more guesses at another's). At most `max_keys` keys are remembered (the stalest go first), so a flood of
made-up names cannot grow the server's memory.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable


@dataclass
class _Failures:
    count: int
    last: float


class Throttle:
    def __init__(self, free: int = 3, base: float = 1.0, cap: float = 60.0, forget: float = 900.0,
                 max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.base, self.cap, self.forget = free, base, cap, forget
        self.max_keys, self.clock = max_keys, clock
        self._keys: OrderedDict[Hashable, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row."""
        if failures < self.free:
            return 0.0
        return min(self.cap, self.base * 2 ** (failures - self.free))

    def wait(self, *keys: Hashable) -> float:
        """Seconds until any of `keys` may try again (0: now)."""
        now = self.clock()
        with self._lock:
            return max((self._left(key, now) for key in keys), default=0.0)

    def failed(self, *keys: Hashable) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                entry = self._keys.pop(key, None)
                if entry is None or now - entry.last > self.forget:
                    entry = _Failures(0, now)
                entry.count += 1
                entry.last = now
                self._keys[key] = entry  # most recent last
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)

    def succeeded(self, key: Hashable) -> None:
        with self._lock:
            self._keys.pop(key, None)

    def __len__(self) -> int:
        return len(self._keys)

    def _left(self, key: Hashable, now: float) -> float:
        entry = self._keys.get(key)
        if entry is None or now - entry.last > self.forget:
            return 0.0
        return max(0.0, entry.last + self.delay(entry.count) - now)


__all__ = ["Throttle"]

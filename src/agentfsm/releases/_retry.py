"""Bounded exponential backoff with full jitter, for writers racing on one branch.

Jitter matters here: two writers that lose to each other and wait the same time collide again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import attrs


@attrs.frozen
class Backoff:
    """How a writer that lost a race waits before trying again.

    Attributes:
        attempts: how many tries in all before giving up.
        base: the first wait's upper bound, in seconds; it doubles each time.
        cap: the longest wait, in seconds.
    """

    attempts: int = 60
    base: float = 0.002
    cap: float = 0.25

    def tries(self) -> Iterator[int]:
        """Yield the attempt numbers 0, 1, …; sleep a jittered backoff before each retry."""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1))))
            yield attempt

"""When to look first for something expected soon, where every look is a round trip to a
server (a network mount): the answer to a call, or a busy session's next request."""

from __future__ import annotations

__all__ = ["FirstLook"]


class FirstLook:
    """How long after the moment it became expected to look first: about when it came before.

    A look that comes too early costs one open (the log's size has not moved) and the next
    look follows at once; one that comes too late adds its whole wait. So the delay steps down
    after a first look that found it and up twice as far after one that missed: it settles
    where about one first look in three misses, below the typical arrival rather than above
    most of them.
    """

    LONGEST = 0.002  # one slow arrival must not make the next ones wait long for a look
    LEARN_BELOW = 0.01  # what was found later than this came late for its own reasons: not learnt
    STEP = 0.00002

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0  # arrivals found, and how many of their first looks missed
        self.missed = 0

    def learn(self, first_look_found: bool, found_after: float) -> None:
        """``found_after``: seconds from the moment it became expected to the start of the
        look that found it."""
        self.calls += 1
        self.missed += not first_look_found
        if first_look_found:
            self.delay = max(0.0, self.delay - self.STEP)
        elif found_after < self.LEARN_BELOW:
            self.delay = min(self.LONGEST, self.delay + 2 * self.STEP)

"""Progress on stderr for the long-running commands (bench, diff): tqdm's
bar when the optional `progress` extra is installed, else a plain line now
and then, so a run without tqdm still shows it is alive."""

from __future__ import annotations

import sys
import time
from typing import Protocol


class _Bar(Protocol):
    """The part of tqdm's bar that Progress uses."""

    def set_description(self, desc: str) -> None: ...

    def update(self, n: int) -> object: ...

    def close(self) -> None: ...


class Progress:
    """Counts steps (or operations) towards a total."""

    def __init__(
        self,
        total: int,
        label: str = "",
        unit: str = "step",
        enabled: bool = True,
        lines: int | None = None,
    ) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self.start = time.monotonic()
        self.enabled = enabled
        self.bar: _Bar | None = None
        # without tqdm: a line per step, or one every total/lines units
        self.every = 1 if lines is None else max(1, total // lines)
        self.next = self.every
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(
                    total=total, desc=label or None, file=sys.stderr, unit=unit, leave=False
                )

    def step(self, what: str | None = None, n: int = 1) -> None:
        """n more done; `what` names the step just finished."""
        self.done += n
        if not self.enabled:
            return
        if self.bar is not None:
            if what:
                self.bar.set_description(what)
            self.bar.update(n)
        elif self.done >= self.next or self.done == self.total:
            self.next += self.every
            width = len(str(self.total))
            elapsed = time.monotonic() - self.start
            name = what or self.label
            print(
                f"[{self.done:{width}d}/{self.total}] {elapsed:6.1f}s  {name}",
                file=sys.stderr,
                flush=True,
            )

    def advance(self, n: int = 1) -> None:
        """n more done (a callback for loops that report counts)."""
        self.step(n=n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

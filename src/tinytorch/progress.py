"""A small terminal progress bar, shared by downloads and the training loop.

Long work should say how far along it is, but a progress bar must never get in the way:
written to a log file or captured by a test it would only be noise. So the bar draws
itself on a terminal, stays quiet when its stream is not a terminal (unless forced, as a
notebook caller may want), and writes nothing at all when disabled.

    with ProgressBar(total=9_912_422, description="train-images", unit="B") as bar:
        for chunk in chunks:
            bar.update(len(chunk))

    for batch in track(batches, description="epoch 3"):
        ...

The bar redraws one line in place with a carriage return and ends it with a newline when
closed. Redraws are rate-limited (``min_interval`` seconds) except the last one, so a
tight loop spends its time on work rather than on printing.
"""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TextIO, TypeVar

Item = TypeVar("Item")

BYTE_UNITS = ("B", "KB", "MB", "GB", "TB")


def format_bytes(count: float) -> str:
    """Human-readable size in powers of 1000: ``format_bytes(9_912_422) == '9.9 MB'``."""
    for unit in BYTE_UNITS:
        if abs(count) < 1000 or unit == BYTE_UNITS[-1]:
            break
        count /= 1000
    return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"


class ProgressBar:
    """One line of progress: description, bar, percentage, counts, optional status text.

    total: the amount that means "done" (bytes, batches, ...); ``None`` when unknown, in
        which case the bar shows only the count so far.
    unit: ``"B"`` formats counts as sizes (``4.5 MB``); any other string is appended to
        plain counts (``"batches"`` -> ``12/50 batches``).
    enabled: ``False`` writes nothing at all, whatever else is set.
    force: draw even when the stream is not a terminal (notebooks, CI logs).
    stream: where to draw; standard error by default, as the bar is not program output.
    """

    def __init__(
        self,
        total: float | None = None,
        description: str = "",
        *,
        unit: str = "",
        enabled: bool = True,
        force: bool = False,
        stream: TextIO | None = None,
        width: int = 30,
        min_interval: float = 0.1,
    ) -> None:
        if total is not None and total < 0:
            raise ValueError(f"ProgressBar total must be >= 0 or None, got {total}")
        self.total = total
        self.description = description
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.min_interval = min_interval
        self.count = 0.0
        self.status = ""
        self.visible = enabled and (force or _is_terminal(self.stream))
        self.closed = False
        self._last_draw_time: float | None = None
        self._last_line_length = 0

    def update(self, amount: float = 1, status: str | None = None) -> None:
        """Advance by ``amount``; ``status`` replaces the text shown after the counts."""
        self.count += amount
        if status is not None:
            self.status = status
        now = time.monotonic()
        due = self._last_draw_time is None or now - self._last_draw_time >= self.min_interval
        if due:
            self._draw(now)

    def close(self) -> None:
        """Draw the final state and end the line. Closing twice does nothing."""
        if self.closed:
            return
        self.closed = True
        if self.visible:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def render(self) -> str:
        """The line as it is drawn now, without the carriage return."""
        parts = [self.description] if self.description else []
        if self.total:
            fraction = min(self.count / self.total, 1.0)
            filled = int(round(fraction * self.width))
            parts.append("[" + "#" * filled + "-" * (self.width - filled) + "]")
            parts.append(f"{fraction * 100:3.0f}%")
            parts.append(f"{self._format_count(self.count)}/{self._format_count(self.total)}")
        else:
            parts.append(self._format_count(self.count))
        if self.unit and self.unit != "B":
            parts[-1] += f" {self.unit}"
        if self.status:
            parts.append(self.status)
        return " ".join(parts)

    def _format_count(self, count: float) -> str:
        if self.unit == "B":
            return format_bytes(count)
        return f"{count:g}"

    def _draw(self, now: float) -> None:
        self._last_draw_time = now
        if not self.visible:
            return
        line = self.render()
        # Pad with spaces so a shorter line fully covers the previous, longer one.
        padding = " " * max(self._last_line_length - len(line), 0)
        self._last_line_length = len(line)
        self.stream.write("\r" + line + padding)
        self.stream.flush()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def track(
    items: Iterable[Item],
    description: str = "",
    *,
    total: int | None = None,
    **options: object,
) -> Iterator[Item]:
    """Yield ``items`` while a ``ProgressBar`` counts them; ``total`` defaults to ``len(items)``."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with ProgressBar(total=total, description=description, **options) as bar:  # type: ignore[arg-type]
        for item in items:
            yield item
            bar.update(1)


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False

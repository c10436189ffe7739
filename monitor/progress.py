"""Progress on a terminal (rich, when installed), nothing when piped or logged.

Drawn on stderr, so stdout stays the command's result either way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


@contextmanager
def progress(description: str, total: int, stream: TextIO | None = None) -> Iterator[Callable[[str], None]]:
    """Yields `advance(label)`; a no-op unless `stream` (stderr) is a terminal and rich is installed."""
    stream = stream or sys.stderr
    if total == 0 or not stream.isatty():  # checked first: importing rich costs ~25 ms
        yield lambda label: None
        return
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    except ImportError:  # rich is optional: `pip install 'monitor[pretty]'`
        yield lambda label: None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("[dim]{task.fields[last]}"),
        console=Console(file=stream),
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total, last="")
        yield lambda label: bar.update(task, advance=1, last=label)

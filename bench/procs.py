"""The process table as the benchmarks read it (Linux /proc)."""

from __future__ import annotations

import os


def children() -> dict[int, list[int]]:
    """Every parent pid → its children's pids."""
    table: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        table.setdefault(ppid, []).append(int(entry.name))
    return table


def pss_kb(pid: int) -> int:
    """Proportional set size: pages shared between processes counted once over them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

"""Hostile requests at the console's door: the CPU seconds one of them costs the daemon before
any token is compared. One function per case, each returning its figures; `main` prints them.

    .venv/bin/python bench/hostile.py [--backslashes 40000] [--runs 1000]

cookie_cost: one Cookie header holding a quoted value of N backslashes (the shape of
CVE-2024-7592) read through http.cookies.SimpleCookie, as the console read cookies before, and
through its own parser (monitor/web/auth.py: `cookie_value` on the whole header, and
`in_session` as a request meets it, 8 KiB cap first). CPU time of this process
(time.process_time); the console's parser is timed over --runs repetitions and averaged.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.web import auth  # noqa: E402

TOKEN = "k3Vq-8sXbT1p_Zr0aW9cLm"


def cpu_seconds(work: Callable[[], object], runs: int = 1) -> float:
    """CPU seconds of one call of `work`, averaged over `runs` calls."""
    start = time.process_time()
    for _ in range(runs):
        work()
    return (time.process_time() - start) / runs


def cookie_cost(backslashes: int = 40_000, runs: int = 1000) -> dict[str, float]:
    """CPU seconds of one hostile Cookie header: SimpleCookie (before), the console's parser on
    the whole header, and the console's check as a request meets it (after)."""
    header = f'{auth.COOKIE}="' + "\\" * backslashes + '"'
    return {
        "SimpleCookie().load": cpu_seconds(lambda: SimpleCookie().load(header)),
        "auth.cookie_value, whole header": cpu_seconds(lambda: auth.cookie_value(header, auth.COOKIE), runs),
        "auth.in_session (8 KiB cap first)": cpu_seconds(lambda: auth.in_session({"cookie": header}, TOKEN), runs),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backslashes", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args(argv)
    print(f"one Cookie header of {args.backslashes:,} backslashes, CPU seconds (Python {sys.version.split()[0]}):")
    for label, seconds in cookie_cost(args.backslashes, args.runs).items():
        print(f"  {label:<36} {seconds:.3g}")


if __name__ == "__main__":
    main()

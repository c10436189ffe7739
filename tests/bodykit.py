"""The body stage over a network the test controls: every host name resolves to one address the
test picks, and `fetchkit.Routed` sends the public one to a local server. In-process
(`body_rounds`) or as a process of its own (`python bodykit.py …`), so that a test can show what
a fresh process, a restart or another node, decides with nothing remembered from the last."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fetchkit import Routed

from monitor.config import load_config
from monitor.runtime.assembly import assemble


async def body_rounds(
    config_path: Path,
    answer: str,
    port: int,
    clock: Callable[[], float],
    *,
    poll: bool,
    rounds: int = 1,
    advance: Callable[[float], object] | None = None,
) -> list[str]:
    """Poll every feed (with `poll`), then `rounds` times fetch every queued body that is due,
    moving the clock an hour on (`advance`) after each round, past any backoff. The outcomes."""
    config = load_config(config_path, env={})

    async def resolve(host: str) -> list[str]:
        return [answer]

    outcomes = []
    async with assemble(config, resolver=resolve, network=Routed(port), clock=clock) as assembly:
        pipeline = assembly.pipeline
        if poll:
            for feed in pipeline.enabled_feeds():
                await pipeline.poll(feed)
        bodies = pipeline.bodies
        assert bodies is not None, "no feed of the config has fulltext = true"
        for _ in range(rounds):
            for item in bodies.claim(clock(), 100):
                outcomes.append((await bodies.fetch(item)).status)
            if advance is not None:
                advance(3600)
    return outcomes


def main() -> None:
    """`python bodykit.py CONFIG ADDRESS PORT CLOCK_OFFSET [poll]`: one round; prints its outcomes."""
    config, answer, port, offset = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    poll = sys.argv[5:] == ["poll"]
    outcomes = asyncio.run(body_rounds(Path(config), answer, port, lambda: time.time() + offset, poll=poll))
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main()

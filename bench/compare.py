"""Side by side: monitor against what people would pick instead, on the same N local feeds.

Tools (each skipped, saying so, when it cannot be installed):
- monitor: `monitor run --once`, cold (empty database), warm (every feed answers 304) and
  warm with 10% of the feeds changed (one new item each);
- newsboat `-x reload` (Debian package, C++, `reload-threads 20`);
- rss2email `r2e run` (maildir delivery);
- feed2exec `fetch --parallel` (maildir output);
- naive: a sequential `feedparser.parse(url)` loop (cold only: it has no state).

The peers are benchmark-only: newsboat comes from apt (when running as root), rss2email and
feed2exec are pip-installed into their own venv (bench/.peers-venv), never into monitor's.

Feeds: N documents built from the real fixtures (bench/feeds.py), served on 127.0.0.1 by
bench/feedserver.py in its own process, with ETag and Last-Modified. Before each tool the
feeds are reset to the same base documents, so every tool sees the same sequence.

Per run: wall time; CPU time (user+sys of the whole process tree: the bench makes itself a
child subreaper, so grandchildren such as parser workers are reaped and counted); peak
memory (the largest sum of PSS over the process tree, sampled 10, 20, 40… ms apart up to
every 250 ms; PSS counts pages shared between processes once; reading it costs ~9 ms of CPU
per sample of a 4-process tree, so sampling every 20 ms, as before, took ~30% of one of the
2 cores from the tool measured). "Warm" for a peer that only stores validators after its
first run (newsboat) is its third run; the table says how many feeds answered 304.

A speed probe (a fixed pure-Python loop) runs before and after each N, printed under its table.

With `--pairs K`, K more cold runs of monitor and of the naive loop follow, alternating
(monitor, naive, monitor, naive…): the speed of this VM drifts by 10-40% within an hour, and
only runs side by side in time make a fair ratio. It prints each pair's ratio and the median.

    .venv/bin/python bench/compare.py [N ...] [--tools monitor,newsboat,...] [--pairs K]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import feeds
import procs

ROOT = Path(__file__).resolve().parent.parent
PEERS_VENV = ROOT / "bench" / ".peers-venv"
MONITOR = Path(sys.executable).parent / "monitor"
TOOLS = ["monitor", "newsboat", "rss2email", "feed2exec", "naive"]
PR_SET_CHILD_SUBREAPER = 36


@dataclass
class Run:
    wall: float
    cpu: float
    mem_mb: float
    not_modified: int = 0
    full: int = 0


# -- measuring -------------------------------------------------------------------------

PSS_EVERY = 0.25  # seconds between samples of the tree's PSS (~9 ms of CPU each)


def _become_subreaper() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        print("warning: cannot become a child subreaper; grandchildren's CPU may be missed")


def _tree(root: int, exclude: set[int]) -> list[int]:
    """The run's processes: the command, its descendants, and orphans re-parented to us."""
    children = procs.children()
    out, todo = [], [root] + [p for p in children.get(os.getpid(), []) if p not in exclude and p != root]
    out.extend(todo)
    seen = set(todo)
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            if child not in seen:
                seen.add(child)
                out.append(child)
                todo.append(child)
    return out


def measure(cmd: list[str], cwd: Path, server: feeds.Server | None = None, env: dict | None = None) -> Run:
    """Run a command to completion (failing loudly) and measure it and its descendants."""
    server.stats() if server else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = [0]
    others = set(procs.children().get(os.getpid(), []))  # the feed server, say
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    done = threading.Event()

    def sample() -> None:
        wait = 0.01  # doubling up to PSS_EVERY: a run of 0.2 s still gets 5 samples
        while not done.is_set():
            total = sum(procs.pss_kb(p) for p in _tree(proc.pid, others))
            peak[0] = max(peak[0], total)
            done.wait(wait)
            wait = min(2 * wait, PSS_EVERY)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    # Orphaned grandchildren (a forkserver, say) were re-parented to us: reap them so
    # their CPU time is counted.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if not [p for p in procs.children().get(os.getpid(), []) if p not in others]:
                break
            time.sleep(0.01)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{(err or out)[-1500:].decode(errors='replace')}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    full, not_modified = server.stats() if server else (0, 0)
    return Run(wall, cpu, peak[0] / 1024, not_modified, full)


# -- installing the peers ---------------------------------------------------------------


def install_peers(wanted: list[str]) -> dict[str, str]:
    """Each peer's command (or a reason it is skipped, prefixed with 'skip: ')."""
    found: dict[str, str] = {}
    if "newsboat" in wanted:
        nb = shutil.which("newsboat")
        if nb is None and os.geteuid() == 0 and shutil.which("apt-get"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            if subprocess.run(["apt-get", "install", "-y", "-q", "newsboat"], env=env, capture_output=True).returncode:
                subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
                subprocess.run(["apt-get", "install", "-y", "-q", "newsboat"], env=env, capture_output=True)
            nb = shutil.which("newsboat")
        found["newsboat"] = nb or "skip: newsboat is not installed and apt-get could not install it (not root?)"
    pip_peers = {"rss2email": "r2e", "feed2exec": "feed2exec"}
    want_pip = [p for p in pip_peers if p in wanted]
    if want_pip:
        bin_dir = PEERS_VENV / "bin"
        if not (bin_dir / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], capture_output=True)
        for package in want_pip:
            exe = bin_dir / pip_peers[package]
            if not exe.exists() and (bin_dir / "pip").exists():
                subprocess.run([str(bin_dir / "pip"), "install", "-q", package], capture_output=True)
            found[package] = str(exe) if exe.exists() else f"skip: pip could not install {package}"
    return found


# -- the tools ---------------------------------------------------------------------------


def monitor_config(folder: Path, urls: list[str], name: str = "config.toml") -> Path:
    lines = ['[monitor]\ndatabase = "bench.db"\nconcurrency = 20\nper_host = 20\n']
    lines += [f'[[feeds]]\nname = "feed-{i}"\nurl = "{u}"\n' for i, u in enumerate(urls)]
    lines.append('[[rules]]\nname = "rift"\nquery = "Russia AND Israel"\nnotify = ["screen"]\n')
    lines.append('[[rules]]\nname = "iran"\nquery = "Iran AND (nuclear OR sanctions)"\nnotify = ["screen"]\n')
    lines.append('[channels.screen]\nurls = ["console://"]\n')
    path = folder / name
    path.write_text("".join(lines), encoding="utf-8")
    return path


NAIVE = """
import sys, feedparser
for url in open(sys.argv[1]).read().split():
    feedparser.parse(url)
"""


class Tool:
    """How to run one tool cold, warm and after a change, in its own scratch folder."""

    def __init__(self, name: str, exe: str, work: Path, urls: list[str]) -> None:
        self.name, self.exe, self.work, self.urls = name, exe, work, urls
        work.mkdir(parents=True)
        (work / "urls").write_text("\n".join(urls) + "\n")
        getattr(self, f"_setup_{name}")()

    def _setup_monitor(self) -> None:
        self.config = monitor_config(self.work, self.urls)
        self.cmd = [self.exe, "--config", str(self.config), "run", "--once"]
        self.warmups = 0

    def _setup_newsboat(self) -> None:
        (self.work / "config").write_text("reload-threads 20\n")
        self.cmd = [self.exe, "-u", "urls", "-c", "cache.db", "-C", "config", "-x", "reload"]
        self.warmups = 1  # validators are stored from its second run on

    def _setup_rss2email(self) -> None:
        subprocess.run(
            [self.exe, "-c", "r2e.cfg", "-d", "r2e.json", "new", "bench@example.org"],
            cwd=self.work,
            capture_output=True,
            check=True,
        )
        (self.work / "Maildir" / "INBOX").mkdir(parents=True)
        for sub in ("cur", "new", "tmp"):
            (self.work / "Maildir" / "INBOX" / sub).mkdir()
        cfg = (self.work / "r2e.cfg").read_text()
        cfg = cfg.replace("email-protocol = sendmail", "email-protocol = maildir")
        cfg = cfg.replace("maildir-path = ~/Maildir", f"maildir-path = {self.work / 'Maildir'}")
        cfg += "".join(f"\n[feed.feed-{i}]\nurl = {u}\n" for i, u in enumerate(self.urls))
        (self.work / "r2e.cfg").write_text(cfg)
        self.cmd = [self.exe, "-c", "r2e.cfg", "-d", "r2e.json", "run"]
        self.warmups = 0

    def _setup_feed2exec(self) -> None:
        mail = self.work / "mail"
        (self.work / "f.ini").write_text(
            "".join(
                f"[feed-{i}]\nurl = {u}\noutput = feed2exec.plugins.maildir\nmailbox = {mail}\n\n"
                for i, u in enumerate(self.urls)
            )
        )
        self.cmd = [self.exe, "--config", "f.ini", "--database", "f.db", "fetch", "--parallel"]
        self.warmups = 0

    def _setup_naive(self) -> None:
        (self.work / "naive.py").write_text(NAIVE)
        self.cmd = [sys.executable, "naive.py", "urls"]
        self.warmups = 0


def bench_tool(
    name: str, exe: str, n: int, base: Path, served: Path, paths: list[str], server: feeds.Server, scratch: Path
) -> dict[str, Run]:
    shutil.rmtree(served, ignore_errors=True)
    shutil.copytree(base, served)
    server.reload()
    tool = Tool(name, exe, scratch / name, [server.url(p) for p in paths])
    runs = {"cold": measure(tool.cmd, tool.work, server)}
    if name == "naive":
        return runs
    for _ in range(tool.warmups):
        measure(tool.cmd, tool.work, server)
    runs["warm"] = measure(tool.cmd, tool.work, server)
    feeds.change_feeds(served, paths, 0.1, 1)
    server.reload()
    runs["changed"] = measure(tool.cmd, tool.work, server)
    return runs


def cold_pairs(
    k: int, exes: dict[str, str], base: Path, served: Path, paths: list[str], server: feeds.Server, scratch: Path
) -> str:
    """K alternating cold runs of monitor and the naive loop: each pair's walls and ratio."""
    shutil.rmtree(served, ignore_errors=True)
    shutil.copytree(base, served)
    server.reload()
    lines, ratios = ["", "cold, monitor and naive alternating:"], []
    for i in range(k):
        walls = {}
        for name in ("monitor", "naive"):
            tool = Tool(name, exes[name], scratch / f"pair-{i}-{name}", [server.url(p) for p in paths])
            walls[name] = measure(tool.cmd, tool.work, server).wall
        ratios.append(walls["naive"] / walls["monitor"])
        lines.append(
            f"  pair {i + 1}: monitor {walls['monitor']:.2f} s, naive {walls['naive']:.2f} s: {ratios[-1]:.2f}x"
        )
    lines.append(f"  median of {k}: {statistics.median(ratios):.2f}x")
    return "\n".join(lines)


PROBE = """
import time
t = time.perf_counter()
s = 0
for i in range(5_000_000):
    s += i * i
print(time.perf_counter() - t)
"""


def speed_probe() -> float:
    """Seconds of a fixed pure-Python loop: this VM's speed drifts by up to ~35% within
    minutes, and the probe printed beside a table says how fast the machine was."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    return float(out)


def startup() -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        config = monitor_config(Path(tmp), [])
        measure([str(MONITOR), "--config", str(config), "run", "--once"], Path(tmp))
        return measure([str(MONITOR), "--config", str(config), "run", "--once"], Path(tmp))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def table(n: int, results: dict[str, dict[str, Run]], start: Run, skipped: dict[str, str]) -> str:
    ours = results.get("monitor", {})
    lines = [
        f"N = {n} feeds",
        "",
        "| tool | run | wall s | CPU s | peak MB | 304s | its wall ÷ monitor's |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        for kind, r in runs.items():
            mine = ours.get(kind) or (ours.get("cold") if name == "naive" else None)
            ratio = f"{r.wall / mine.wall:.2f}" if mine and name != "monitor" else ""
            lines.append(
                f"| {name} | {kind} | {r.wall:.2f} | {r.cpu:.2f} | {r.mem_mb:.0f} | {r.not_modified}/{n} | {ratio} |"
            )
    if "warm" in ours:
        net = ours["warm"].wall - start.wall
        # At a small N the difference is within the noise of either figure.
        excluded = f"{n / net:.0f} feeds/s" if net > 0.05 else "too small to tell"
        lines.append("")
        lines.append(
            f"monitor start-up (no feeds): {start.wall:.2f} s wall, {start.cpu:.2f} s CPU; "
            f"warm all-304: {n / ours['warm'].wall:.0f} feeds/s, {excluded} start-up excluded"
        )
    for name, why in skipped.items():
        lines.append(f"{name}: {why}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", nargs="*", type=int, default=[100, 1000])
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ", ".join(TOOLS))
    ap.add_argument(
        "--pairs",
        type=int,
        default=0,
        metavar="K",
        help="then K alternating cold runs of monitor and the naive loop (needs both)",
    )
    ap.add_argument(
        "--identical",
        action="store_true",
        help="byte-identical copies of the fixtures (items shared across feeds), as before 2026-11-26",
    )
    args = ap.parse_args(argv)
    wanted = [t for t in args.tools.split(",") if t]
    # Users' Pythons write .pyc files; without them every start-up recompiles monitor (~0.1 s).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    _become_subreaper()
    exes = {"monitor": str(MONITOR), "naive": sys.executable}
    skipped = {}
    for name, found in install_peers(wanted).items():
        if found.startswith("skip: "):
            skipped[name] = found
        else:
            exes[name] = found
    print(machine())
    print(
        "feeds: "
        + (
            "byte-identical copies of the fixtures"
            if args.identical
            else "fixtures with ids and links unique to each copy (distinct outlets)"
        )
    )
    start = startup() if "monitor" in wanted else Run(0, 0, 0)
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            scratch = Path(tmp)
            probe_before = speed_probe()
            paths = feeds.write_feeds(scratch / "base", n, args.identical)
            served = scratch / "served"
            shutil.copytree(scratch / "base", served)
            server = feeds.Server(served)
            results: dict[str, dict[str, Run]] = {}
            try:
                for name in wanted:
                    if name not in exes:
                        continue
                    try:
                        results[name] = bench_tool(
                            name, exes[name], n, scratch / "base", served, paths, server, scratch / f"run-{n}"
                        )
                    except RuntimeError as exc:
                        skipped[name] = f"failed: {exc}"
                    print(f"  {name} done", file=sys.stderr, flush=True)
                pairs = ""
                if args.pairs and {"monitor", "naive"} <= set(results):
                    pairs = cold_pairs(
                        args.pairs, exes, scratch / "base", served, paths, server, scratch / f"pairs-{n}"
                    )
            finally:
                server.close()
            print(table(n, results, start, skipped) + pairs)
            print(f"speed probe (a 5M-iteration Python loop): {probe_before:.2f} s before, {speed_probe():.2f} s after")
            print()


if __name__ == "__main__":
    main()

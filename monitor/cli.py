"""The commands. The one place where errors become messages and exit codes.

Exit codes: 0 fine, 1 runtime failure (or "no match" for `match`/`backtest`),
2 bad usage or configuration.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from . import reports
from .config import Config, find_config, load_config, parse_duration
from .errors import ConfigError, MonitorError, UsageError
from .redaction import Redactor, Secrets, redacted_output

log = logging.getLogger("monitor")


class Context:
    """What every command shares: the config file, read once, and the gate every byte written
    passes (redaction.py), taught each secret the config holds as it is read."""

    def __init__(self, config_path: str | None, redactor: Redactor) -> None:
        self.config_path = config_path
        self.redactor = redactor
        self._config: Config | None = None

    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load_config(find_config(self.config_path))
            except ConfigError as exc:
                self.redactor.learn(exc.secrets)  # a problem may quote a line that holds one
                raise
            self.redactor.learn(self._config.secrets)
        return self._config

    def optional_config(self) -> Config | None:
        """The config when one is found; commands such as `match` work without it."""
        try:
            return self.config()
        except MonitorError:
            if self.config_path:
                raise
            return None


def examples(*lines: str) -> str:
    """A command's epilog: invocations that `--help` shows as written (click leaves a paragraph
    that starts with \\b unwrapped) and docs/commands.md copies."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    envvar="MONITOR_CONFIG",
    help="Config file (default: $MONITOR_CONFIG, ./config.toml, ~/.config/monitor/config.toml).",
)
@click.version_option(package_name="monitor")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """monitor: watch news feeds, match watch rules, deliver each story once."""
    # main() passes its gate in; a caller of the group itself (click's test runner) gets one here.
    redactor = ctx.obj if isinstance(ctx.obj, Redactor) else Redactor()
    ctx.with_resource(redacted_output(redactor))
    ctx.obj = Context(config_path, redactor)


@cli.command(
    epilog=examples(
        "monitor run",
        "monitor run --once",
        "monitor --config /etc/monitor/config.toml run --log-format json --http 127.0.0.1:9464",
    )
)
@click.option("--once", is_flag=True, help="Poll every enabled feed once, deliver, print a summary and exit.")
@click.option(
    "--log-format",
    type=click.Choice(["human", "json"]),
    default="human",
    show_default=True,
    envvar="MONITOR_LOG_FORMAT",
    help="json: one JSON object per line (journald, log shippers).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    envvar="MONITOR_LOG_LEVEL",
    help="Overrides [monitor] log_level.",
)
@click.option(
    "--node",
    metavar="NAME",
    envvar="MONITOR_NODE",
    help="This daemon's name in the cluster (overrides [monitor] node; its process id is appended).",
)
@click.option(
    "--http",
    "listen",
    metavar="HOST:PORT",
    envvar="MONITOR_HTTP",
    help="Serve /healthz and /metrics here (overrides [monitor] http): a port of its own for each daemon of a host.",
)
@pass_ctx
def run(ctx: Context, once: bool, log_format: str, log_level: str | None, node: str | None, listen: str | None) -> None:
    """Run the daemon (or one cycle with --once)."""
    from .config import parse_listen
    from .logs import setup_logging
    from .runtime.assembly import assemble
    from .runtime.daemon import run_once

    try:
        address = parse_listen(listen) if listen else None
    except ValueError as exc:
        raise UsageError(f"--http: {exc}") from None
    config = ctx.config()  # the assembler refuses to serve the console on `address` without a token

    def apply_logging(cfg: Config) -> None:
        # After a reload, secrets of the old channels stay redacted too (the redactor forgets
        # none): their values may still be in flight (an old pipeline finishing a poll).
        ctx.redactor.learn(cfg.secrets)
        setup_logging(log_level or cfg.settings.log_level, ctx.redactor, fmt=log_format)

    apply_logging(config)
    for warning in config.warnings:
        log.warning("%s", warning)

    async def once_() -> None:
        from .progress import progress

        async with assemble(config, node=node or "") as assembly:
            pipeline = assembly.pipeline
            with progress("polling feeds", len(pipeline.enabled_feeds())) as advance:
                summary = await run_once(pipeline, lambda outcome: advance(outcome.feed))
        for line in summary.lines():
            click.echo(line)

    async def daemon() -> None:
        from .runtime.daemon import Daemon
        from .runtime.endpoint import Liveness
        from .runtime.supervisor import Supervisor

        liveness = Liveness()
        async with assemble(
            config, liveness=liveness, node=node or "", listen=address, redactor=ctx.redactor
        ) as assembly:
            await Daemon(assembly, Supervisor(assembly, liveness, on_config=apply_logging)).run()

    asyncio.run(once_() if once else daemon())


@cli.command(epilog=examples("monitor check", "monitor --config config.example.toml check"))
@pass_ctx
def check(ctx: Context) -> None:
    """Validate the config and every rule; exit 2 listing every problem."""
    from .delivery.channels import Notifier

    config = ctx.config()
    for warning in config.warnings:  # first: one may say why a problem below arose
        click.echo(f"warning: {warning}", err=True)
    problems = Notifier(config.channels).validate()
    if problems:
        raise ConfigError([f"{config.path}: {p}" for p in problems])
    click.echo(
        f"{config.path}: ok: {len(config.feeds)} feeds, {len(config.rules)} rules, "
        f"{len(config.aliases)} aliases, {sum(c.enabled for c in config.channels.values())}/"
        f"{len(config.channels)} channels enabled"
    )


@cli.command(
    epilog=examples(
        "monitor match '@russia AND @israel' https://www.timesofisrael.com/feed/",
        "monitor match 'body:\"foreign minister\" AND Israel' article.html --json",
    )
)
@click.argument("query")
@click.argument("sources", nargs=-1, required=True, metavar="FILE|URL...")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per matching item.")
@pass_ctx
def match(ctx: Context, query: str, sources: tuple[str, ...], as_json: bool) -> None:
    """Evaluate QUERY against feeds or article pages, files or URLs; exit 0 if any item matched,
    1 if none. An article page is one item: its headline, and its main text as `body`."""
    from .rules import compile_query

    config = ctx.optional_config()
    compiled = compile_query(query, config.aliases if config else None)
    matched = 0
    for source in sources:
        try:
            label, parsed = reports.load_source(source, config.settings if config else None)
        except MonitorError as exc:
            click.echo(f"{source}: {exc.message}", err=True)
            continue
        for warning in parsed.warnings:
            click.echo(f"{label}: {warning}", err=True)
        for hit in reports.match_items(compiled, label, parsed):
            matched += 1
            if as_json:
                click.echo(json.dumps(hit, ensure_ascii=False))
            else:
                click.echo(reports.format_hit(hit, color=sys.stdout.isatty()))
    if not as_json:
        click.echo(f"{matched} matching item{'s' if matched != 1 else ''}", err=True)
    if not matched:
        sys.exit(1)


@cli.group(epilog=examples("monitor rules explain '@iran AND (nuclear OR IAEA) -football'"))
def rules() -> None:
    """Work with watch-rule queries."""


@rules.command("explain", epilog=examples("monitor rules explain '@iran AND (nuclear OR IAEA) -football'"))
@click.argument("query")
@pass_ctx
def rules_explain(ctx: Context, query: str) -> None:
    """Print QUERY fully parenthesised, with aliases expanded."""
    from .rules import explain

    config = ctx.optional_config()
    click.echo(explain(query, config.aliases if config else None))


@cli.command(
    epilog=examples(
        "monitor backtest 'Russia AND Israel' --since 7d",
        "monitor backtest russia-israel-rift --since 30d --limit 20 --json",
    )
)
@click.argument("rule_or_query")
@click.option(
    "--since",
    default="7d",
    show_default=True,
    help="Items that arrived in this window (e.g. 12h, 7d): stored by monitor then, whatever their publication date.",
)
@click.option("--limit", default=0, type=int, help="Show at most this many items (0: all).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item.")
@pass_ctx
def backtest(ctx: Context, rule_or_query: str, since: str, limit: int, as_json: bool) -> None:
    """What a rule (by name) or a query would have matched among the items that arrived in a window,
    newest first."""
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    config = ctx.config()
    if config.rule(rule_or_query) is None and "-" in rule_or_query and " " not in rule_or_query.strip():
        # "russia-israel-rift" is a valid query (a phrase), but more likely a mistyped rule name.
        names = ", ".join(r.name for r in config.rules) or "none"
        click.echo(f'note: no rule named "{rule_or_query}" (rules: {names}); evaluating it as a query', err=True)
    hits = reports.backtest(config, rule_or_query, window, limit or None)
    for hit in hits:
        click.echo(json.dumps(hit, ensure_ascii=False) if as_json else reports.format_hit(hit, sys.stdout.isatty()))
    if not as_json:
        click.echo(f"{len(hits)} matching item{'s' if len(hits) != 1 else ''} arrived in the last {since}", err=True)
    if not hits:
        sys.exit(1)


@cli.command(epilog=examples("monitor feeds", "monitor feeds --json"))
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per feed.")
@pass_ctx
def feeds(ctx: Context, as_json: bool) -> None:
    """Each feed's health (ok, failing, gone, moved, silent): last poll, status, errors, next poll, items, and
    how often it is polled and why."""
    rows = reports.feed_rows(ctx.config())
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        status = (
            (r["disabled_reason"] and f"disabled: {r['disabled_reason']}")
            or r["last_error"]
            or (f"HTTP {r['last_status']}" if r["last_status"] else "never polled")
        )
        click.echo(
            f"{r['name']:<24} {'on ' if r['enabled'] else 'off'} {r['health'] or '-':<8} {status:<32.32} "
            f"errors={r['consecutive_errors']} items={r['items']} "
            f"last={_short(r['last_poll'])} ok={_short(r['last_success'])} next={_short(r['next_poll'])} "
            f"by={r['polled_by'] or '-'}"
        )
        if r["schedule"]:
            click.echo(f"{'':<28}{r['schedule']}")
        if r["health"] not in (None, "ok"):
            # Since when, and why: the same words the health channel was sent.
            for n, line in enumerate((r["health_detail"] or "").splitlines()):
                click.echo(
                    f"{'':<28}{r['health'] + ' since ' + _short(r['health_since']) + ': ' if not n else ''}{line}"
                )
        elif r["adopted_url"]:
            click.echo(f"{'':<28}moved permanently: now polling {r['adopted_url']}; update url in the config")
        if r["bodies"] is not None:
            b = r["bodies"]
            click.echo(
                f"{'':<28}bodies: fetched={b['fetched']} failed={b['failed']} robots={b['robots']} "
                f"address={b['address']} skipped={b['skipped']}"
            )


@cli.command(epilog=examples("monitor alerts --limit 20"))
@click.option("--limit", default=50, show_default=True, type=int, help="Show at most this many alerts.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per alert.")
@pass_ctx
def alerts(ctx: Context, limit: int, as_json: bool) -> None:
    """Recent alerts and the status of their deliveries."""
    rows = reports.alert_rows(ctx.config(), limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no alerts yet")
    for r in rows:
        states = ", ".join(f"{d['channel']}:{d['status']}" for d in r["deliveries"]) or "no channel enabled"
        click.echo(f"{_short(r['created'])} [{r['rule']}] {r['title']}\n    {r['link']}  ({r['feed']}; {states})")
        later = [s for s in r["sources"] if s != r["feed"]]
        if later:
            click.echo(f"    also carried by: {', '.join(later)}")


@cli.command(epilog=examples("monitor cluster"))
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per node.")
@pass_ctx
def cluster(ctx: Context, as_json: bool) -> None:
    """The daemons sharing the database: live, stopped or silent, the jobs and feeds each holds."""
    rows = reports.cluster_rows(ctx.config())
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no daemon has run on this database yet")
    for r in rows:
        jobs = ",".join(j["job"] for j in r["jobs"]) or "-"
        click.echo(
            f"{r['node']:<28} {r['state']:<7} host={r['host'] or '-'} pid={r['pid'] or '-'} "
            f"started={_short(r['started'])} beat={_short(r['heartbeat'])} ({r['heartbeat_age']:.0f}s ago) "
            f"jobs={jobs} leased={r['feeds_leased']} polled_last={r['feeds_polled_last']}"
        )


@cli.command(
    "import-opml",
    epilog=examples("monitor import-opml subscriptions.opml --dry-run", "monitor import-opml subscriptions.opml"),
)
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--dry-run", is_flag=True, help="Report what would be added; leave the config file alone.")
@click.option("--json", "as_json", is_flag=True, help="A JSON object: the feeds added and those skipped.")
@pass_ctx
def import_opml(ctx: Context, file: str, dry_run: bool, as_json: bool) -> None:
    """Add the feeds of an OPML export to the config file, keeping its comments; skip duplicates."""
    from . import opml
    from .progress import progress

    config = ctx.config()
    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise UsageError(f"{file}: cannot read: {exc.strerror or exc}") from None
    outlines = opml.read_opml(data, file)
    with progress("reading outlines", len(outlines)) as advance:
        plan = opml.plan_import(outlines, config.feeds, opml.raw_feed_urls(config.path))
        for o in outlines:
            advance(o.title or o.url)
    if plan.added and not dry_run:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d")
        text = opml.add_feeds_to_toml(
            config.path.read_text(encoding="utf-8"), plan.added, f"imported from {Path(file).name} on {stamp}"
        )
        _write_checked_config(config.path, text)
    if as_json:
        click.echo(
            json.dumps({"added": plan.added, "skipped": plan.skipped, "dry_run": dry_run}, indent=2, ensure_ascii=False)
        )
        return
    verb = "would add" if dry_run else "added"
    for f in plan.added:
        tags = f" [{', '.join(f['tags'])}]" if f["tags"] else ""
        click.echo(f"{verb} {f['name']}: {f['url']}{tags}")
    for f in plan.skipped:
        click.echo(f"skipped {f['title'] or f['url']}: {f['reason']}")
    click.echo(
        f"{len(plan.added)} feed{'s' if len(plan.added) != 1 else ''} {verb}, {len(plan.skipped)} skipped"
        + (f" ({config.path})" if plan.added and not dry_run else ""),
        err=True,
    )
    if plan.added and not dry_run:
        click.echo(
            "a running daemon picks them up on reload: systemctl reload monitor (or kill -HUP its pid)", err=True
        )


def _write_checked_config(path: Path, text: str) -> None:
    """Replace the config only when the new text loads: validate a copy beside it first."""
    from .config import load_config
    from .opml import write_atomically

    probe = path.with_name(f".{path.name}.check")
    probe.write_text(text, encoding="utf-8")
    try:
        load_config(probe)
    except ConfigError as exc:
        raise ConfigError([p.replace(str(probe), str(path)) for p in exc.problems]) from None
    finally:
        probe.unlink(missing_ok=True)
    write_atomically(path, text)


@cli.command("export-opml", epilog=examples("monitor export-opml -o feeds.opml"))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Write to this file instead of standard output.",
)
@pass_ctx
def export_opml(ctx: Context, output: str) -> None:
    """Write the configured feeds as OPML 2.0 (tags become categories)."""
    from .opml import export_opml as render
    from .opml import raw_feed_urls

    config = ctx.config()
    text = render(config, raw_feed_urls(config.path))
    if output == "-":
        click.echo(text, nl=False)
        return
    Path(output).write_text(text, encoding="utf-8")
    click.echo(f"{len(config.feeds)} feeds written to {output}", err=True)


@cli.command("migrate-db", epilog=examples("monitor migrate-db --to postgresql://monitor@db:5432/monitor"))
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL",
    help="The PostgreSQL database to copy into: postgresql://user@host:5432/dbname "
    "(the password in $PGPASSWORD or ~/.pgpass keeps it out of the process list).",
)
@click.option("--replace", is_flag=True, help="Empty the target's monitor tables first; what they hold is lost.")
@click.option("--json", "as_json", is_flag=True, help="A JSON object: the rows copied, by table.")
@pass_ctx
def migrate_db(ctx: Context, target: str, replace: bool, as_json: bool) -> None:
    """Copy the config's SQLite database into PostgreSQL: history, outbox and ids, all or nothing."""
    from dataclasses import asdict

    from .databases import database_password
    from .store.migrate import migrate_database

    ctx.redactor.learn(Secrets.of(passwords=[database_password(target) or ""]))
    config = ctx.config()
    migration = migrate_database(config.settings.database, target, replace)
    if as_json:
        click.echo(json.dumps(asdict(migration), indent=2, ensure_ascii=False))
        return
    for table, rows in migration.rows.items():
        click.echo(f"{table:<12} {rows:>10}")
    click.echo(f"copied {migration.source} into {migration.target}" + (", emptied first" if replace else ""))
    click.echo(
        f'next: set database = "{migration.target}" under [monitor] in {config.path} (a password as ${{PGPASSWORD}}) '
        f"and start the daemons; {migration.source} is left as it was",
        err=True,
    )


@cli.command(epilog=examples("monitor outbox", "monitor outbox --retry 42", "monitor outbox --retry-dead"))
@click.option(
    "--retry",
    "retry_ids",
    metavar="ID",
    type=int,
    multiple=True,
    help="Send this pending or dead delivery now (repeatable).",
)
@click.option("--retry-dead", is_flag=True, help="Send every dead letter again now.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per delivery.")
@pass_ctx
def outbox(ctx: Context, retry_ids: tuple[int, ...], retry_dead: bool, as_json: bool) -> None:
    """Pending and dead deliveries with their last error; --retry ID / --retry-dead send them again."""
    from .delivery.channels import Notifier
    from .delivery.outbox import Outbox, outbox_rows
    from .errors import NotFound
    from .store import open_store

    config = ctx.config()
    store = open_store(config.settings.database)
    try:
        if not (retry_ids or retry_dead):
            rows = outbox_rows(store, config.channels)
            if as_json:
                click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
                return
            if not rows:
                click.echo("the outbox is empty: every alert was delivered")
            for r in rows:
                click.echo(
                    f"#{r['id']:<6} {r['state']:<14} {r['channel']:<12} attempts={r['attempts']:<3} "
                    f"[{r['rule']}] {r['title']}"
                )
                if r["last_error"]:
                    click.echo(f"        last error: {r['last_error']}")
            return
        ids = sorted(set(retry_ids) | (set(store.dead_ids()) if retry_dead else set()))
        known = store.delivery_status(ids) if ids else {}
        missing = [i for i in retry_ids if i not in known]
        if missing:
            raise NotFound(f"no delivery #{missing[0]}; `monitor outbox` lists them")
        already = [i for i in retry_ids if known[i] == "sent"]
        if already:
            raise UsageError(f"delivery #{already[0]} was already sent; only pending or dead ones can be retried")

        report, status = asyncio.run(
            Outbox(store, Notifier(config.channels), config.channels, config.delivery).retry(ids)
        )
        result = [{"id": i, "status": status.get(i)} for i in ids]
        if as_json:
            click.echo(
                json.dumps(
                    {"sent": report.sent, "failed": report.failed, "deliveries": result, "errors": report.errors},
                    indent=2,
                    ensure_ascii=False,
                )
            )
        else:
            click.echo(f"{report.sent} sent, {report.failed} failed (kept for retry)" if ids else "nothing to retry")
            for error in dict.fromkeys(report.errors):
                click.echo(f"  {error}", err=True)
        if report.failed:
            sys.exit(1)
    finally:
        store.close()


@cli.command("notify-test", epilog=examples("monitor notify-test slack"))
@click.argument("channel")
@pass_ctx
def notify_test(ctx: Context, channel: str) -> None:
    """Send a realistic sample alert through CHANNEL; exit 1 if a destination fails."""
    from .delivery.channels import Notifier
    from .delivery.outbox import send_sample
    from .errors import NotFound
    from .logs import setup_logging

    config = ctx.config()
    setup_logging("warning", ctx.redactor)
    ch = config.channels.get(channel)
    if ch is None:
        known = ", ".join(sorted(config.channels)) or "none defined"
        raise NotFound(f'no channel "{channel}"; channels: {known}')
    if not ch.enabled:
        raise MonitorError(
            f'channel "{channel}" is disabled: {ch.disabled_reason}',
            hint="export the variable (or put it in the service's EnvironmentFile)",
        )
    failed = 0
    for n, error in send_sample(Notifier(config.channels), channel):
        failed += error is not None
        click.echo(f"{channel} destination #{n}: {'sent' if error is None else 'FAILED: ' + error}")
    if failed:
        raise MonitorError(
            f'{failed} destination(s) of channel "{channel}" failed',
            hint="check the URL and that the destination is reachable; `monitor check` validates URLs",
        )


def _short(value: Any) -> str:
    if not value:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value).timestamp()
    return datetime.fromtimestamp(value, tz=UTC).strftime("%m-%d %H:%M:%S")


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error is turned into a message and an exit code here, and everything
    the process writes, these messages included, goes through one redactor."""
    redactor = Redactor()
    with redacted_output(redactor):
        code = _run(argv, redactor)
    sys.exit(code)


def _run(argv: list[str] | None, redactor: Redactor) -> int:
    try:
        cli.main(args=argv, prog_name="monitor", standalone_mode=False, obj=redactor)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except MonitorError as exc:
        click.echo(f"error: {exc.render()}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    main()

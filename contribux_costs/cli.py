"""``contribux-costs``: a thin shell over the library.

Each command opens, calls, and translates errors into one line and an exit code.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

# Only light modules here: pydantic, DuckDB and polars load inside main(), after its Ctrl-C
# handler is installed (an early Ctrl-C used to print an import traceback).
from contribux_costs.errors import ConfigError, CostsError
from contribux_costs.periods import Month, Window, utc_midnight
from contribux_costs.redact import redact

if TYPE_CHECKING:
    from contribux_costs.config import Settings

Command = Callable[[argparse.Namespace, "Settings"], int]

DESCRIPTION = """\
Cost and capacity analytics for Vercel, OpenAI, Neon and Upstash: collect usage and billing data
into DuckDB, price it as FOCUS rows, analyze a month and render an offline HTML report.
Without provider credentials every command works on the demo workspace (DEMO DATA)."""

EXAMPLES = """\
examples:
  contribux-costs report --collect --month 2025-01   collect and render reports/2025-01/
  contribux-costs collect --month 2025-01 --provider openai
  contribux-costs analyze --month 2025-01 --format json
  contribux-costs alerts --min-severity high --notify "$SLACK_WEBHOOK_URL"
  contribux-costs export focus --month 2025-01 --output focus-2025-01.parquet

exit codes: 0 ok · 1 a source failed / an alert fired · 2 bad input or provider error · 3 bug
months: a future month is refused; a month never collected is an error naming the command that
collects it; the current month is reported as in progress (today partial)."""


def _month(args: argparse.Namespace) -> Month:
    from contribux_costs.focus.summary import refuse_future

    month = Month.parse(args.month) if args.month is not None else Month.previous_full()
    refuse_future(month)
    return month


def _collected_month(args: argparse.Namespace, settings: Settings) -> Month:
    """The month of a reading command: not in the future, and collected (else exit 2 naming the
    command that collects it) — one rule for report, analyze, alerts and export."""
    from contribux_costs.focus.summary import require_collected
    from contribux_costs.store import open_store

    month, db = _month(args), _db(args, settings)
    if not db.exists():
        raise ConfigError(
            f"no database at {db}: run `contribux-costs collect --month {month}` first"
        )
    with open_store(db, read_only=True) as store:
        require_collected(store, month, db)
    return month


def _db(args: argparse.Namespace, settings: Settings) -> Path:
    return Path(args.db) if getattr(args, "db", None) else settings.contribux_costs_db


def cmd_collect(args: argparse.Namespace, settings: Settings) -> int:
    from contribux_costs.pipeline import collect
    from contribux_costs.store import open_store

    window = _month(args).window if args.month is not None else _trailing(settings)
    with open_store(_db(args, settings)) as store:
        report = collect(settings, store, window, only=args.provider or None, progress=_progress())
    print("\n".join(report.summary_lines()))
    if report.demo:
        print("(DEMO DATA: no provider is configured; see .env.example)")
    return 0 if report.ok else 1


def _trailing(settings: Settings) -> Window:
    """Without --month: the last ``repull_days`` days up to now (the daily schedule's window)."""
    today = datetime.now(UTC).date()
    return Window(utc_midnight(today - timedelta(days=settings.repull_days)), datetime.now(UTC))


def _progress() -> Callable[[str, str], None]:
    tty = sys.stderr.isatty()

    def say(source: str, message: str) -> None:
        if tty:
            sys.stderr.write(f"\r\x1b[2K{source:<9} {message}"[:200])
            if message == "done" or message.startswith(("failed", "finished")):
                sys.stderr.write("\n")
        else:
            sys.stderr.write(f"{source}: {message}\n")
        sys.stderr.flush()

    return say


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from contribux_costs.report.render import render_month

    month = _month(args)
    if args.collect and not _collect_for_report(month, settings, _db(args, settings)):
        return 1
    done = render_month(month, _db(args, settings), Path(args.reports_dir))
    for f in done.files:
        print(f"wrote {f} ({f.stat().st_size / 1e6:.1f} MB) in {done.seconds:.1f}s")
    return 0


def _collect_for_report(month: Month, settings: Settings, db: Path) -> bool:
    """Collect the month and the month before (for the change); the store is closed before the
    notebooks open it read-only. Only a failure of the month itself stops the report."""
    from contribux_costs.pipeline import collect_month
    from contribux_costs.store import open_store

    with open_store(db) as store:
        before = collect_month(settings, store, month.prev, progress=_progress())
        report = collect_month(settings, store, month, progress=_progress())
    if before is not None and not before.ok:
        print(f"warning: collecting {month.prev} (for the comparison) had errors:", file=sys.stderr)
        print("\n".join(before.summary_lines()), file=sys.stderr)
    if report is None:
        print(f"{month} is settled and already collected: re-priced, not collected again")
        return True
    print("\n".join(report.summary_lines()))
    if report.demo:
        print("(DEMO DATA: no provider is configured; see .env.example)")
    return report.ok


def cmd_analyze(args: argparse.Namespace, settings: Settings) -> int:
    from contribux_costs.analysis.engine import CostOptimizer
    from contribux_costs.report.text import format_result

    month = _collected_month(args, settings)
    with CostOptimizer(_db(args, settings)) as engine:
        result = engine.analyze_usage(month)
    print(result.model_dump_json(indent=2) if args.format == "json" else format_result(result))
    return 0


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from contribux_costs.analysis.alerts import alerts_at_or_above, format_alerts, notify
    from contribux_costs.analysis.engine import CostOptimizer
    from contribux_costs.demo.model import DEMO_LABEL

    floor = args.min_severity
    alerts_at_or_above([], floor)  # a bad severity name fails before any work
    month = _collected_month(args, settings)
    with CostOptimizer(_db(args, settings)) as engine:
        result = engine.analyze_usage(month)
    # --min-severity selects what is printed, sent and counted for the exit code.
    firing = alerts_at_or_above(result.alerts, floor)
    label = f"{result.month} ({DEMO_LABEL})" if result.demo else result.month
    hidden = len(result.alerts) - len(firing)
    below = f" ({hidden} below {floor} not shown)" if hidden else ""
    print(f"alerts for {label} at or above {floor}{below}:\n{format_alerts(firing)}")
    if args.notify and firing:
        notify(args.notify, firing, month=label, report=report_link(settings, month))
        print(f"posted {len(firing)} alert(s) to the webhook")
    return 1 if firing else 0


def report_link(settings: Settings, month: Month) -> str:
    """REPORT_URL with ``{month}`` filled in, else the local report's absolute path."""
    if settings.report_url:
        return settings.report_url.replace("{month}", str(month))
    return str((Path("reports") / str(month) / "report.html").resolve())


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from contribux_costs.focus import export_focus
    from contribux_costs.store import open_store

    if args.what != "focus":
        return _export_results(args, settings)
    if args.from_month or args.to_month or args.partitioned:
        return _export_range(args, settings)
    month = _collected_month(args, settings)
    with open_store(_db(args, settings)) as store:
        done = export_focus(store, month, Path(args.output))
    print(f"wrote {done.rows} FOCUS rows (BilledCost ${done.billed_cost:,.2f}) to {done.path}")
    return 0


def _export_range(args: argparse.Namespace, settings: Settings) -> int:
    from contribux_costs.focus.export_range import export_focus_range
    from contribux_costs.store import open_store

    if args.month:
        raise ConfigError("export focus: give --month, or --from/--to, not both")
    first = Month.parse(args.from_month or args.to_month)
    last = Month.parse(args.to_month or args.from_month)
    with open_store(_db(args, settings)) as store:
        done = export_focus_range(store, first, last, args.output, partitioned=args.partitioned)
    for part in done:
        print(f"wrote {part.rows} FOCUS rows (BilledCost ${part.billed_cost:,.2f}) to {part.path}")
    return 0


def _export_results(args: argparse.Namespace, settings: Settings) -> int:
    from contribux_costs.analysis.engine import CostOptimizer
    from contribux_costs.report.exports import export_results

    month = _collected_month(args, settings)  # before the engine opens the store read-write
    with CostOptimizer(_db(args, settings)) as engine:
        result = engine.analyze_usage(month)
    count = export_results(result, args.what, Path(args.output))
    print(f"wrote {count} {args.what} for {result.month} to {args.output}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from contribux_costs.config import demo_settings
    from contribux_costs.pipeline import collect
    from contribux_costs.store import open_store

    demo = demo_settings(settings)
    month = _month(args)
    db = Path(args.db)
    with open_store(db) as store:
        for m in (month.prev, month):
            report = collect(demo, store, m.window, progress=_progress())
            if not report.ok:
                print("\n".join(report.summary_lines()))
                return 1
    print(f"DEMO DATA for {month.prev} and {month} collected into {db}")
    return 0


def cmd_recommendations(args: argparse.Namespace, settings: Settings) -> int:
    from contribux_costs.analysis import lifecycle
    from contribux_costs.analysis.engine import CostOptimizer
    from contribux_costs.report.text import format_lifecycle

    month = _collected_month(args, settings)
    with CostOptimizer(_db(args, settings)) as engine:
        result = engine.analyze_usage(month)
        if args.action == "set":
            rid = lifecycle.set_status(
                engine.store, month, result.recommendations, args.id, args.status, args.reason
            )
            print(f"{rid}: {args.status}" + (f" ({args.reason})" if args.reason else ""))
            return 0
    print(format_lifecycle(result))
    return 0


def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    from contribux_costs.analysis.alerts import post_webhook
    from contribux_costs.analysis.engine import CostOptimizer
    from contribux_costs.report.digest import digest, report_location, slack_text

    month = _collected_month(args, settings)
    where = report_location(month, Path(args.reports_dir), args.report_url)
    with CostOptimizer(_db(args, settings)) as engine:
        lines = digest(engine.store, month, engine.analyze_usage(month), where)
    print("\n".join(lines))
    if args.notify:
        post_webhook(args.notify, slack_text(lines))
        print("posted the digest to the webhook", file=sys.stderr)
    return 0


def _add_lifecycle_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rc = sub.add_parser(
        "recommendations", help="list recommendations with their status; `set ID` to change one"
    )
    rc.add_argument("--month", help="YYYY-MM (default: the previous full month)")
    rc.add_argument("--db", help="DuckDB path (default: CONTRIBUX_COSTS_DB)")
    rc.set_defaults(func=cmd_recommendations, action="list")
    rsub = rc.add_subparsers(dest="action")
    rs = rsub.add_parser("set", help="set a recommendation's status (id or unique id prefix)")
    rs.add_argument("id")
    rs.add_argument("--status", required=True, choices=("open", "accepted", "dismissed", "done"))
    rs.add_argument("--reason", help="why (required to dismiss)")
    rs.add_argument("--month", help="YYYY-MM the recommendation is from (default: previous full)")
    rs.add_argument("--db", help="DuckDB path (default: CONTRIBUX_COSTS_DB)")

    dg = sub.add_parser("digest", help="the month in at most 20 lines (print; --notify posts it)")
    dg.add_argument("--month", help="YYYY-MM (default: the previous full month)")
    dg.add_argument("--notify", metavar="URL", help="post the digest to a Slack-compatible webhook")
    dg.add_argument("--reports-dir", default="reports", help="where reports are (default: reports)")
    dg.add_argument("--report-url", help="base URL where the reports are published, for the link")
    dg.add_argument("--db", help="DuckDB path (default: CONTRIBUX_COSTS_DB)")
    dg.set_defaults(func=cmd_digest)


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from contribux_costs.store.backup import backup

    done = backup(_db(args, settings), Path(args.output))
    print(
        f"backed up {done.tables} tables ({done.rows} rows, FOCUS BilledCost "
        f"${done.billed:,.2f}) to {done.folder}"
    )
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from contribux_costs.store.backup import restore

    done = restore(Path(args.folder), Path(args.db))
    print(
        f"restored {done.tables} tables ({done.rows} rows, FOCUS BilledCost ${done.billed:,.2f}) "
        f"into {args.db}: counts and money totals match the manifest"
    )
    return 0


def add_backup_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("backup", help="snapshot the database: Parquet per table + manifest")
    b.add_argument("--output", required=True, help="new folder to write the backup into")
    b.add_argument("--db", help="DuckDB path (default: CONTRIBUX_COSTS_DB)")
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser("restore", help="load a backup into a NEW database and verify it")
    r.add_argument("folder", help="a folder written by 'contribux-costs backup'")
    r.add_argument("--db", required=True, help="the new DuckDB file (never overwritten)")
    r.set_defaults(func=cmd_restore)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="contribux-costs",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("collect", help="collect usage and billing data into DuckDB")
    c.add_argument("--month", help="YYYY-MM (default: the trailing re-pull window up to now)")
    c.add_argument("--provider", action="append", help="only this source (repeatable)")
    c.add_argument("--db", help="DuckDB path (default: CONTRIBUX_COSTS_DB)")
    c.set_defaults(func=cmd_collect)

    r = sub.add_parser("report", help="render the month's HTML report(s)")
    r.add_argument("--month", help="YYYY-MM (default: the previous full month)")
    r.add_argument("--db", help="DuckDB path (default: CONTRIBUX_COSTS_DB)")
    r.add_argument("--reports-dir", default="reports", help="output folder (default: reports)")
    r.add_argument(
        "--collect", action="store_true", help="collect the month and the month before first"
    )
    r.set_defaults(func=cmd_report)

    a = sub.add_parser("analyze", help="recommendations, projections, findings for a month")
    a.add_argument("--month", help="YYYY-MM (default: the previous full month)")
    a.add_argument("--format", choices=("table", "json"), default="table")
    a.add_argument("--db", help="DuckDB path (default: CONTRIBUX_COSTS_DB)")
    a.set_defaults(func=cmd_analyze)

    al = sub.add_parser(
        "alerts",
        help="evaluate alert rules; print (and --notify) those at or above --min-severity, "
        "exit 1 if any",
    )
    al.add_argument("--month", help="YYYY-MM (default: the previous full month)")
    al.add_argument(
        "--min-severity",
        default="medium",
        help="info|low|medium|high|critical: what is printed, posted and counted (default medium)",
    )
    al.add_argument("--notify", metavar="URL", help="post the alerts to a Slack-compatible webhook")
    al.add_argument("--db", help="DuckDB path (default: CONTRIBUX_COSTS_DB)")
    al.set_defaults(func=cmd_alerts)

    e = sub.add_parser("export", help="export FOCUS 1.3 rows, recommendations, anomalies, alerts")
    e.add_argument(
        "what", choices=("focus", "recommendations", "anomalies", "alerts"), help="what to export"
    )
    e.add_argument("--month", help="YYYY-MM (default: the previous full month)")
    e.add_argument("--from", dest="from_month", help="focus: first month YYYY-MM of a range")
    e.add_argument("--to", dest="to_month", help="focus: last month YYYY-MM of a range")
    e.add_argument(
        "--partitioned",
        action="store_true",
        help="focus: --output is a folder; one Parquet file per month (x_billing_month=YYYY-MM/)",
    )
    e.add_argument(
        "--output",
        required=True,
        help="file name: .parquet/.csv for focus, .csv/.json for the others",
    )
    e.add_argument("--db", help="DuckDB path (default: CONTRIBUX_COSTS_DB)")
    e.set_defaults(func=cmd_export)

    d = sub.add_parser("demo", help="fill a database with the demo workspace (DEMO DATA)")
    d.add_argument("--month", help="YYYY-MM (default: the previous full month)")
    d.add_argument(
        "--db", default="data/demo.duckdb", help="DuckDB path (default: data/demo.duckdb)"
    )
    d.set_defaults(func=cmd_demo)
    _add_lifecycle_commands(sub)
    add_backup_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    # First thing, before any heavy import: Ctrl-C ends with exit 130 and one word, never a
    # traceback; a second Ctrl-C (while threads finish) exits at once.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _on_interrupt) if main_thread else None
    _interrupted.clear()
    try:
        return _run(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)


_interrupted: list[bool] = []


def _on_interrupt(_signum: int, _frame: FrameType | None) -> None:
    if _interrupted:
        os._exit(130)
    _interrupted.append(True)
    raise KeyboardInterrupt


def _run(argv: Sequence[str] | None) -> int:
    from pydantic import ValidationError

    from contribux_costs.config import load_settings

    args = build_parser().parse_args(argv)
    secrets: list[str] = []
    try:
        settings = load_settings()
        secrets = settings.secret_values()
        check_overrides(settings)
        code: int = args.func(args, settings)
        return code
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(x) for x in first["loc"]).upper()
        print(f"error: configuration {name}: {first['msg']}", file=sys.stderr)
        return 2
    except CostsError as exc:
        print(f"error: {redact(str(exc), secrets)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a bug, not a user mistake: still one line unless debugging
        if os.environ.get("CONTRIBUX_COSTS_DEBUG"):
            raise
        if _damaged_store(exc):
            text = redact(_one_line(exc), secrets)
            print(
                f"error: the database could not be read ({text}): it may be damaged or "
                "truncated; restore a backup with 'contribux-costs restore'",
                file=sys.stderr,
            )
            return 2
        text = redact(f"{type(exc).__name__}: {_one_line(exc)}", secrets)
        print(
            f"error: internal error ({text}); set CONTRIBUX_COSTS_DEBUG=1 for the traceback",
            file=sys.stderr,
        )
        return 3


def check_overrides(settings: Settings) -> None:
    """The user's price and analysis override files, validated before any work starts: a bad
    entry fails every command at once, with one line, not after a long collection."""
    if settings.contribux_costs_prices is not None:
        from contribux_costs.pricing import load_pricebook

        load_pricebook(settings.contribux_costs_prices)
    if settings.contribux_costs_config is not None:
        from contribux_costs.analysis.rulebase import Config

        Config.load(settings.contribux_costs_config)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]


def _damaged_store(exc: BaseException) -> bool:
    """A DuckDB I/O failure after the store opened (a truncated or damaged file, a full disk):
    the environment's fault, not a bug, so exit 2 with DuckDB's own one-line reason."""
    import duckdb

    return isinstance(exc, duckdb.IOException)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

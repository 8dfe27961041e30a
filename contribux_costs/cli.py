"""``contribux-costs``: a thin shell over the library.

Each command opens, calls, and translates errors into one line and an exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import ValidationError

from contribux_costs.config import Settings, demo_settings, load_settings
from contribux_costs.errors import ConfigError, CostsError
from contribux_costs.periods import Month, Window, utc_midnight
from contribux_costs.redact import redact

Command = Callable[[argparse.Namespace, Settings], int]

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

    month = _collected_month(args, settings)
    with open_store(_db(args, settings)) as store:
        done = export_focus(store, month, Path(args.output))
    print(f"wrote {done.rows} FOCUS rows (BilledCost ${done.billed_cost:,.2f}) to {done.path}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
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

    e = sub.add_parser("export", help="export FOCUS 1.3 rows")
    e.add_argument("what", choices=("focus",), help="what to export")
    e.add_argument("--month", help="YYYY-MM (default: the previous full month)")
    e.add_argument("--output", required=True, help="file name ending in .parquet or .csv")
    e.add_argument("--db", help="DuckDB path (default: CONTRIBUX_COSTS_DB)")
    e.set_defaults(func=cmd_export)

    d = sub.add_parser("demo", help="fill a database with the demo workspace (DEMO DATA)")
    d.add_argument("--month", help="YYYY-MM (default: the previous full month)")
    d.add_argument(
        "--db", default="data/demo.duckdb", help="DuckDB path (default: data/demo.duckdb)"
    )
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    secrets: list[str] = []
    try:
        settings = load_settings()
        secrets = settings.secret_values()
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
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a user mistake: still one line unless debugging
        if os.environ.get("CONTRIBUX_COSTS_DEBUG"):
            raise
        text = redact(f"{type(exc).__name__}: {exc}", secrets)
        print(
            f"error: internal error ({text}); set CONTRIBUX_COSTS_DEBUG=1 for the traceback",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

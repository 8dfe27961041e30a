"""Render report notebooks into offline HTML, publish a month atomically, keep an index page.

papermill executes ``notebooks/<name>.ipynb`` with the month and database path as parameters;
nbconvert turns it into HTML with code hidden, through the ``offline`` template (no CDN loads).
Everything is written to a temporary folder beside the target first and swapped in by rename, so
a failing notebook never leaves a half-written report.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from contribux_costs.demo.model import DEMO_LABEL
from contribux_costs.errors import ReportError
from contribux_costs.focus import summary
from contribux_costs.periods import Month
from contribux_costs.report.css import purge_unused_css
from contribux_costs.store import open_store

REPORT_NOTEBOOKS = ("report", "cache")
TEMPLATES = Path(__file__).parent / "templates"
# A staging folder older than this is a leftover of a killed render, not one in progress.
STALE_STAGING_SECONDS = 15 * 60
# The kernel's own log is noise on the terminal: "Kernel is running over TCP without encryption"
# (it listens on localhost only) and, now and then, "KeyboardInterrupt caught in kernel" as it is
# shut down. A failing cell is reported from the executed notebook, a dead kernel by nbclient.
KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]


def default_notebook_dir() -> Path:
    """The repository's ``notebooks/`` folder (the package is installed from the checkout)."""
    return Path(__file__).resolve().parents[2] / "notebooks"


@dataclass(frozen=True)
class RenderedMonth:
    month: str
    folder: Path
    files: list[Path]
    seconds: float


def render_month(
    month: Month,
    db_path: Path,
    reports_dir: Path = Path("reports"),
    notebooks: tuple[str, ...] = REPORT_NOTEBOOKS,
    notebook_dir: Path | None = None,
) -> RenderedMonth:
    """Execute and convert every report notebook for ``month``; publish; update the index."""
    t0 = time.perf_counter()
    # Every path is absolute before anything runs: nothing below depends on the working directory.
    db_path = db_path.resolve()
    reports_dir = reports_dir.resolve()
    facts = _month_facts(month, db_path)
    nb_dir = (notebook_dir or default_notebook_dir()).resolve()
    reports_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(reports_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{month}-", dir=reports_dir))
    try:
        # Each notebook runs in its own kernel, side by side (kernel start-up and imports
        # dominate). papermill's ``cwd=`` would chdir the whole process while the other thread
        # resolves its paths (the old race: "output folder reports/.tmp-… doesn't exist"), so it
        # is not used: every path is absolute and the kernel's directory is set by nbclient.
        with ThreadPoolExecutor(max_workers=len(notebooks)) as pool:
            futures = [
                pool.submit(_render_one, nb_dir / f"{name}.ipynb", staging, month, db_path)
                for name in notebooks
            ]
            files = [f.result() for f in futures]
        (staging / "summary.json").write_text(json.dumps(facts, indent=2), encoding="utf-8")
        target = reports_dir / str(month)
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    write_index(reports_dir)
    return RenderedMonth(
        str(month), target, [target / f.name for f in files], time.perf_counter() - t0
    )


def clean_stale_staging(reports_dir: Path, older_than: float = STALE_STAGING_SECONDS) -> None:
    """Remove ``.tmp-*``/``.old-*`` folders left by a render that was killed (a failing render
    removes its own); recent ones may belong to a render still running."""
    cutoff = time.time() - older_than
    for leftover in [*reports_dir.glob(".tmp-*"), *reports_dir.glob(".old-*")]:
        try:
            if leftover.is_dir() and leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue


def _month_facts(month: Month, db_path: Path) -> dict[str, object]:
    summary.refuse_future(month)
    if not db_path.exists():
        raise ReportError(
            f"no database at {db_path}: run `contribux-costs collect --month {month}` first"
        )
    with open_store(db_path, read_only=True) as store:
        state = summary.month_state(store, month)
        if not state.collected:
            raise ReportError(
                f"no collected data for {month} in {db_path}: run "
                f"`contribux-costs collect --month {month}` first"
            )
        return {
            "month": str(month),
            "total_usd": str(summary.month_total(store, month)),
            "state": state.phase,
            "partial": state.phase == "open",
            "as_of": state.today.isoformat(),
            "demo": summary.is_demo(store),
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }


def _render_one(notebook: Path, staging: Path, month: Month, db_path: Path) -> Path:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    if not notebook.exists():
        raise ReportError(f"notebook {notebook} not found")
    executed = staging / notebook.name
    try:
        pm.execute_notebook(
            str(notebook),
            str(executed),
            parameters={"month": str(month), "db_path": str(db_path)},
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            # The kernel starts in the notebook's folder (nbclient passes it to the kernel
            # manager); this process's working directory is never changed (no ``cwd=``).
            resources={"metadata": {"path": str(notebook.parent)}},
            extra_arguments=KERNEL_ARGS,
        )
    except PapermillExecutionError as exc:
        kept = _keep_failed(executed, month)
        number, first_line = _source_cell(executed, exc.cell_index)
        raise ReportError(
            f"{notebook.name} failed in cell {number} (counting from 1) `{first_line}`: "
            f"{exc.ename}: {exc.evalue}. Executed notebook kept at {kept}"
        ) from None
    html = staging / f"{notebook.stem}.html"
    html.write_text(to_html(executed), encoding="utf-8")
    executed.unlink()
    return html


def to_html(executed: Path) -> str:
    """Offline HTML with inputs and prompts hidden."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="offline",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nbformat.read(str(executed), as_version=4))
    return purge_unused_css(str(body))


def _source_cell(executed: Path, index: int) -> tuple[int, str]:
    """The failing cell's 1-based number in the source notebook (papermill injects a parameters
    cell, which shifts indices) and its first line."""
    import nbformat

    try:
        cells = nbformat.read(str(executed), as_version=4).cells
    except (OSError, ValueError):
        return index + 1, ""
    # papermill also adds error banner cells to its output; its index counts without them.
    cells = [
        c for c in cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])
    ]
    injected = sum(
        1 for c in cells[:index] if "injected-parameters" in c.get("metadata", {}).get("tags", [])
    )
    first = cells[index].source.strip().splitlines()[0] if 0 <= index < len(cells) else ""
    return index - injected + 1, first[:80]


def _keep_failed(executed: Path, month: Month) -> Path:
    keep = Path(tempfile.gettempdir()) / "contribux-costs-failed" / f"{month}-{executed.name}"
    keep.parent.mkdir(parents=True, exist_ok=True)
    if executed.exists():
        shutil.copyfile(executed, keep)
    return keep


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with renames (readers see the old or the new folder)."""
    old = target.with_name(f".old-{target.name}-{time.time_ns()}")
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def write_index(reports_dir: Path) -> Path:
    """``reports/index.html``: every rendered month with its total and links."""
    rows = []
    for facts_file in sorted(reports_dir.glob("*/summary.json"), reverse=True):
        facts = json.loads(facts_file.read_text(encoding="utf-8"))
        folder = facts_file.parent.name
        links = " · ".join(
            f'<a href="{escape(folder)}/{escape(p.name)}">{escape(p.stem)}</a>'
            for p in sorted(facts_file.parent.glob("*.html"))
        )
        partial = f"in progress (to {facts.get('as_of', '?')})" if facts.get("partial") else ""
        flags = " · ".join(
            f for f, on in ((partial, partial), (DEMO_LABEL, facts.get("demo"))) if on
        )
        rows.append(
            f"<tr><td>{escape(facts['month'])}</td>"
            f"<td class='num'>${float(facts['total_usd']):,.2f}</td>"
            f"<td>{escape(flags)}</td><td>{links}</td><td>{escape(facts['generated_at'])}</td></tr>"
        )
    html = _INDEX.format(rows="\n".join(rows) or "<tr><td colspan=5>No reports yet.</td></tr>")
    path = reports_dir / "index.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path


_INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>contribux-costs reports</title>
<style>body{{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto}}
table{{border-collapse:collapse}}
td,th{{padding:4px 12px;border-bottom:1px solid #ddd;text-align:left}}
td.num{{text-align:right;font-variant-numeric:tabular-nums}}</style></head>
<body><h1>contribux-costs — monthly reports</h1>
<table><thead><tr><th>month</th><th>total</th><th></th><th>reports</th><th>generated</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""

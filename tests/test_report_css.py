"""The stock notebook stylesheet is trimmed to the rules a page can use (report/css.py)."""

from __future__ import annotations

from contribux_costs.report.css import PURGE_END, PURGE_START, purge_unused_css


def _page(css: str, body: str) -> str:
    return (
        f"<html><head>{PURGE_START}<style>{css}</style>{PURGE_END}<style>.mine{{}}</style>"
        f"</head><body>{body}</body></html>"
    )


def test_rules_for_absent_classes_go_and_everything_else_stays() -> None:
    css = (
        "/* a comment */ .used { a: 1 } .gone { b: 2 } .used .gone, .used > p { c: 3 }"
        " body { d: 4 } .used:not(.never) { e: 5 } .x :is(.never, .used) { f: 6 }"
        " @media (max-width: 600px) { .gone { g: 7 } .used { h: 8 } }"
        " @media print { .gone { i: 9 } } @keyframes spin { from { j: 10 } }"
        ' .used[data-x=".never"] { k: 11 } :root { --v: 12 }'
    )
    out = purge_unused_css(_page(css, '<div class="used">x</div>'))
    kept = out.split("<style>", 1)[1].split("</style>", 1)[0]
    assert ".gone" not in kept.replace(".used .gone", "")  # the whole rule or its selector only
    assert ".used .gone" not in kept and ".used > p{ c: 3 }" in kept
    for part in ("body{ d: 4 }", ".used:not(.never){ e: 5 }", ".x :is(.never, .used){ f: 6 }",
                 "@media (max-width: 600px){.used{ h: 8 }}", "@keyframes spin{ from { j: 10 } }",
                 '.used[data-x=".never"]{ k: 11 }', ":root{ --v: 12 }"):  # fmt: skip
        assert part in kept, part
    assert "@media print" not in kept and "a comment" not in kept
    assert PURGE_START not in out and PURGE_END not in out
    assert "<style>.mine{}</style>" in out  # the report's own CSS is never touched


def test_classes_a_script_sets_at_run_time_are_kept() -> None:
    page = _page(".live { a: 1 } .dead { b: 2 }", "<script>el.classList.add('live')</script>")
    assert ".live{ a: 1 }" in purge_unused_css(page) and ".dead" not in purge_unused_css(page)


def test_a_page_without_the_marks_is_unchanged() -> None:
    page = "<html><style>.gone { a: 1 }</style><body></body></html>"
    assert purge_unused_css(page) == page

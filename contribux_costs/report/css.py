"""Drop the stock notebook stylesheet's rules that cannot match anything on the page.

Why: nbconvert's lab template inlines JupyterLab's whole stylesheet (~240 kB: dialogs, menus,
file browser, code editor …) into every page; a report uses a few dozen of its classes. A page
must stay under 2 MB fully offline, so the rules for classes the page never has go.

Safe by construction: a rule is dropped only when one of its selectors' required classes is
absent from the page — not in any ``class`` attribute and not even as a word anywhere in the
page's scripts (plotly.js and drill.js add classes at run time). Classes inside ``:not(...)``
do not count as required; ``:is``/``:where``/``:has`` selectors are kept. Only the stylesheet
the template marks (``PURGE_START`` … ``PURGE_END``) is touched; the report's own CSS is not.
"""

from __future__ import annotations

import re

PURGE_START = "<!--cc-purge-->"
PURGE_END = "<!--/cc-purge-->"
_STYLE = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.S)
_CLASS_ATTR = re.compile(r'class="([^"]*)"')
_SCRIPT = re.compile(r"<script[^>]*>(.*?)</script>", re.S)
_WORD = re.compile(r"[A-Za-z_][\w-]*")
_CLASS = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
_IGNORED = re.compile(r":not\([^()]*\)|\[[^\]]*\]")  # classes not required; attribute values
_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def purge_unused_css(html: str) -> str:
    """``html`` with the marked stylesheets' unmatchable rules removed (and the marks)."""
    start, end = html.find(PURGE_START), html.find(PURGE_END)
    if start < 0 or end < start:
        return html
    head, marked, tail = html[:start], html[start + len(PURGE_START) : end], html[end:]
    tail = tail[len(PURGE_END) :]
    used = _page_words(head + tail)
    purged = _STYLE.sub(lambda m: m[1] + _rules(_COMMENT.sub("", m[2]), used) + m[3], marked)
    return head + purged + tail


def _page_words(html: str) -> set[str]:
    """Every class the page has, and every word of its scripts (classes set at run time)."""
    words = {c for m in _CLASS_ATTR.finditer(html) for c in m.group(1).split()}
    for script in _SCRIPT.finditer(html):
        words.update(_WORD.findall(script.group(1)))
    return words


def _rules(css: str, used: set[str]) -> str:
    """The rules of ``css`` that may match; ``@media``/``@supports`` are filtered inside."""
    out, i = [], 0
    while (brace := css.find("{", i)) >= 0:
        close = _matching(css, brace)
        head, block = css[i:brace].strip(), css[brace + 1 : close]
        i = close + 1
        if head.startswith(("@media", "@supports")):
            inner = _rules(block, used)
            if inner:
                out.append(f"{head}{{{inner}}}")
        elif head.startswith("@"):
            out.append(f"{head}{{{block}}}")  # @font-face, @keyframes …: kept whole
        else:
            kept = [s.strip() for s in _selectors(head) if _may_match(s, used)]
            if kept:
                out.append(f"{','.join(kept)}{{{block}}}")
    return "\n".join(out)


def _matching(css: str, brace: int) -> int:
    depth = 0
    for k in range(brace, len(css)):
        depth += {"{": 1, "}": -1}.get(css[k], 0)
        if depth == 0:
            return k
    return len(css)


def _selectors(head: str) -> list[str]:
    """A selector list split at its top-level commas (not those inside ``:is(a, b)``)."""
    out, depth, start = [], 0, 0
    for k, ch in enumerate(head):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            out.append(head[start:k])
            start = k + 1
    return [*out, head[start:]]


def _may_match(selector: str, used: set[str]) -> bool:
    if re.search(r":(is|where|has)\(", selector):
        return True
    return all(c in used for c in _CLASS.findall(_IGNORED.sub("", selector)))

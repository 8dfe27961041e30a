"""Seeded OpenAI usage results (minute buckets × models × projects) as the API's JSON pages.

Pages carry the real envelope (``object: page``, ``data`` buckets with ``start_time``/
``end_time``/``results``, ``has_more``/``next_page``) and the real result shape (the 2025
completions result: token counts, ``num_model_requests``, grouping fields, nulls for the groups
not asked for). The same records also go to NDJSON for DuckDB's own ``read_json`` baseline.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from contribux_costs.periods import Window

START = datetime(2025, 1, 6, tzinfo=UTC)
MINUTE = 60
PAGE_BUCKETS = 1440  # the API's maximum limit for 1m buckets: one day per page
MODELS = (
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
    "o3-2025-04-16",
    "o4-mini-2025-04-16",
    "gpt-5-2025-08-07",
    "gpt-5-mini-2025-08-07",
    "gpt-5-nano-2025-08-07",
)
RESULT = (
    '{"object":"organization.usage.completions.result","input_tokens":%d,"output_tokens":%d,'
    '"input_cached_tokens":%d,"input_audio_tokens":0,"output_audio_tokens":0,'
    '"num_model_requests":%d,"project_id":"%s","user_id":null,"api_key_id":null,"model":"%s",'
    '"batch":null,"service_tier":null}'
)


@dataclass(frozen=True)
class Plan:
    """How many results, in how many groups per minute, and the window they cover."""

    results: int
    projects: int = 10

    @property
    def groups(self) -> list[tuple[str, str]]:
        return [(f"proj_bench{p:03d}", m) for p in range(self.projects) for m in MODELS]

    @property
    def buckets(self) -> int:
        return -(-self.results // len(self.groups))

    @property
    def window(self) -> Window:
        days = -(-self.buckets // PAGE_BUCKETS)
        return Window(START, START + timedelta(days=days))


def _volumes(plan: Plan, seed: int) -> list[tuple[int, int, int, float]]:
    rng = random.Random(seed)
    return [
        (rng.randint(200, 20000), rng.randint(20, 2000), rng.randint(1, 40), rng.random() * 0.5)
        for _ in plan.groups
    ]


def results(plan: Plan, seed: int = 8) -> Iterator[tuple[int, list[str]]]:
    """(bucket start, result JSON texts) per minute bucket, ``plan.results`` results in all."""
    vols = _volumes(plan, seed)
    groups = plan.groups
    left = plan.results
    t0 = int(START.timestamp())
    for b in range(plan.buckets):
        start = t0 + b * MINUTE
        wave = 1 + (b % 97) / 97  # deterministic variety without a random draw per result
        out = []
        for (project, model), (inp, outp, req, cache) in zip(groups[:left], vols, strict=False):
            n = max(1, int(req * wave))
            i = inp * n
            out.append(RESULT % (i, outp * n, int(i * cache), n, project, model))
        left -= len(out)
        yield start, out


def write_pages(plan: Plan, folder: Path) -> list[Path]:
    """The pages a collection of ``plan.window`` with ``limit=1440`` receives, one file each."""
    folder.mkdir(parents=True, exist_ok=True)
    buckets = list(_bucket_texts(plan))
    paths = []
    chunks = [buckets[i : i + PAGE_BUCKETS] for i in range(0, len(buckets), PAGE_BUCKETS)]
    for k, chunk in enumerate(chunks):
        more = k + 1 < len(chunks)
        cursor = json.dumps(page_cursor(k + 1) if more else None)
        flag = "true" if more else "false"
        body = (
            f'{{"object":"page","data":[{",".join(chunk)}],"has_more":{flag},"next_page":{cursor}}}'
        )
        path = folder / f"page_{k:04d}.json"
        path.write_text(body, encoding="utf-8")
        paths.append(path)
    return paths


def page_cursor(index: int) -> str:
    return f"page_bench{index:04d}"


def _bucket_texts(plan: Plan) -> Iterator[str]:
    for start, texts in results(plan):
        inner = ",".join(texts)
        yield (
            f'{{"object":"bucket","start_time":{start},"end_time":{start + MINUTE},'
            f'"results":[{inner}]}}'
        )


def write_ndjson(plan: Plan, path: Path) -> int:
    """The same records, one per line, each with its bucket's ``start_time``/``end_time``."""
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for start, texts in results(plan):
            head = f'{{"start_time":{start},"end_time":{start + MINUTE},'
            f.write("".join(head + t[1:] + "\n" for t in texts))
            n += len(texts)
    return n

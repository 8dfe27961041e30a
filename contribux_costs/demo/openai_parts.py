"""The demo's 2026-shaped completions: Batch and service-tier slices, and every token part.

One workload's hourly volume (requests, input incl. cached, cached, output) is split into slices
(batched; priority tier; standard tier) and each slice into the parts the 2026 Usage API reports
(openai/openai-openapi ``openapi.yaml`` ``UsageCompletionsResult``: ``input_tokens`` = cached +
cache-write + uncached; uncached = text + audio + image). The demo's Costs API bills the same
slices and parts, each at its own rate, so usage and bill agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

BATCH_FACTOR = Decimal("0.5")  # the Batch API: 50% of the standard price


@dataclass(frozen=True)
class Slice:
    """A share of a workload's traffic: batched or not, on a service tier."""

    batch: bool
    tier: str
    share: float


@dataclass(frozen=True)
class Parts:
    """One slice's tokens by part (2026 field names)."""

    requests: int
    text: int  # uncached text input
    image: int  # uncached image input
    write: int  # cache writes
    cached: int  # cached text input
    output: int

    @property
    def input_total(self) -> int:
        return self.text + self.image + self.write + self.cached


def slices(batch_share: float, priority_share: float) -> list[Slice]:
    """Batched traffic runs on the default tier; the rest is split priority / default."""
    out = [Slice(True, "default", batch_share)] if batch_share > 0 else []
    rest = 1 - batch_share
    if priority_share > 0:
        out.append(Slice(False, "priority", rest * priority_share))
    out.append(Slice(False, "default", rest * (1 - priority_share)))
    return out


def parts(vals: tuple[int, int, int, int], share: float, image: float, write: float) -> Parts:
    """A slice's share of (requests, input incl. cached, cached, output), split into parts."""
    req, inp, cached, out = (round(v * share) for v in vals)
    cached = min(cached, inp)
    w = round((inp - cached) * write)
    i = round((inp - cached - w) * image)
    return Parts(req, inp - cached - w - i, i, w, cached, out)


def result_fields(p: Parts) -> dict[str, Any]:
    """The 2026 result's token fields for one slice (no audio in the demo)."""
    return {
        "input_tokens": p.input_total,
        "input_cached_tokens": p.cached,
        "input_cache_write_tokens": p.write,
        "input_uncached_tokens": p.text + p.image,
        "output_tokens": p.output,
        "input_text_tokens": p.text,
        "output_text_tokens": p.output,
        "input_cached_text_tokens": p.cached,
        "input_audio_tokens": 0,
        "input_cached_audio_tokens": 0,
        "output_audio_tokens": 0,
        "input_image_tokens": p.image,
        "input_cached_image_tokens": 0,
        "output_image_tokens": 0,
        "num_model_requests": p.requests,
    }


def add_parts(a: Parts, b: Parts) -> Parts:
    return Parts(*(x + y for x, y in zip(a.__dict__.values(), b.__dict__.values(), strict=True)))


def cost_lines(
    model: str, p: Parts, prices: tuple[Decimal, Decimal, Decimal], batch: bool, embeddings: bool
) -> list[tuple[str, Decimal, int]]:
    """The slice's Costs API line items (item, micro-USD, tokens billed): image input and cache
    writes are billed as input."""
    p_in, p_cached, p_out = prices
    factor = BATCH_FACTOR if batch else Decimal(1)
    billed_input = p.text + p.image + p.write
    lines = [(f"{model}, input", Decimal(billed_input) * p_in * factor, billed_input)]
    if not embeddings:
        lines += [
            (f"{model}, cached input", Decimal(p.cached) * p_cached * factor, p.cached),
            (f"{model}, output", Decimal(p.output) * p_out * factor, p.output),
        ]
    return lines

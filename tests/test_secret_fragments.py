"""Secrets masked as fragments too, and auth-failure bodies kept out (issue 13, defect 6)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from contribux_costs.collect.http import RetryPolicy
from contribux_costs.collect.runner import collect
from contribux_costs.collect.workspace import Workspace
from contribux_costs.config import Settings
from contribux_costs.periods import Month
from contribux_costs.redact import MASK, mask_values, redact
from tests.bridge import serve

KEY = "vercel-LEAKCHECK-4f9a2b7c1d0e"
BODY = (Path(__file__).parent / "fixtures" / "vercel" / "charges_2025_01.jsonl").read_text()


@pytest.mark.parametrize(
    "leak",
    ["vercel-LEAKCHECK-4**", "LEAKCHECK", "key ...4f9a2b7c1d0", "prefix vercel-L"],
)
def test_any_fragment_of_eight_or_more_characters_is_masked(leak: str) -> None:
    out = redact(f"403 forbidden: {leak} is not allowed", [KEY])
    assert out.startswith("403 forbidden: ") and out.endswith(" is not allowed")
    assert MASK in out
    for i in range(len(KEY) - 7):
        assert KEY[i : i + 8] not in out


def test_a_run_of_overlapping_fragments_is_one_mask_and_other_text_stays() -> None:
    text = f"a {KEY[2:20]} b {KEY} c LEAK d"
    assert mask_values(text, [KEY]) == f"a {MASK} b {MASK} c LEAK d"


def test_a_large_body_is_scanned_once_and_masked() -> None:
    body = "x" * 100_000 + KEY[5:15] + "y" * 100_000
    assert mask_values(body, [KEY]) == "x" * 100_000 + MASK + "y" * 100_000


def collect_vercel(answer: httpx.Response, tmp: Path) -> tuple[list[str], list[str], list[str]]:
    """(run errors, ledger errors, raw payloads) of one Vercel collection against ``answer``."""
    from contribux_costs.store import open_store

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/billing/contract-commitments"):
            return httpx.Response(200, content=b"")  # no commitments: the charges carry the case
        return answer

    with serve(handle) as url, open_store(tmp / "s.duckdb") as store:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, vercel_token=KEY, vercel_api_url=url, http_timeout_s=5
        )
        ws = Workspace(["vercel"], None, False)
        policy = RetryPolicy(max_tries=2, sleep=lambda _s: None)
        report = collect(settings, store, Month(2025, 1).window, workspace=ws, policy=policy)
        ledger = [
            str(e)
            for (e,) in store.query(
                "SELECT error FROM ingest_ledger WHERE error IS NOT NULL"
            ).rows()
        ]
        raw = [str(p) for (p,) in store.query("SELECT payload FROM raw_payloads").rows()]
    return report.results["vercel"].errors, ledger, raw


@pytest.mark.parametrize("status", [401, 403])
def test_an_auth_failure_keeps_only_the_status_and_the_providers_error_code(
    status: int, tmp_path: Path
) -> None:
    body = {"error": {"code": "forbidden", "message": "token vercel-LEAKCHECK-4** lacks scope"}}
    errors, ledger, _ = collect_vercel(httpx.Response(status, json=body), tmp_path)
    assert len(errors) == 1 and ledger == errors
    assert errors[0].startswith(f"vercel billing/charges (HTTP {status}): ")
    assert errors[0].endswith("Provider error code: forbidden.")
    assert "lacks scope" not in errors[0] and "LEAKCHECK" not in errors[0]


def test_a_fragment_echoed_in_a_successful_body_is_masked_before_landing(tmp_path: Path) -> None:
    lines = BODY.splitlines()
    row = json.loads(lines[0])
    row["ChargeDescription"] = "billed to token vercel-LEAKCHECK-4**"
    lines[0] = json.dumps(row)
    answer = httpx.Response(200, text="\n".join(lines) + "\n")
    errors, _, raw = collect_vercel(answer, tmp_path)
    assert errors == []
    assert raw and all("LEAKCHECK" not in p for p in raw)


def test_a_connection_urls_host_stays_readable_but_its_password_is_masked_in_parts() -> None:
    url = "postgresql://reader:S3cretPassw0rd99@ep-cool-dark-123.us-east-2.aws.neon.tech/app"
    secrets = [url, "S3cretPassw0rd99"]
    text = "connect to ep-cool-dark-123.us-east-2.aws.neon.tech failed for S3cretPassw0rd"
    assert mask_values(text, secrets) == (
        f"connect to ep-cool-dark-123.us-east-2.aws.neon.tech failed for {MASK}"
    )
    assert mask_values(f"dsn={url}", secrets) == f"dsn={MASK}"

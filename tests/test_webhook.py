"""Webhook delivery (issue 13, defect 4): delivered only on 2xx, redirects followed only to the
same host, a timeout, and every failure one line with exit 2."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from contribux_costs.analysis import alerts
from contribux_costs.analysis.alerts import NotifyError, post_webhook
from contribux_costs.cli import main
from tests.bridge import serve
from tests.report_helpers import demo_db

PAYLOAD = {"text": "contribux-costs: 1 alert(s)"}


class Receiver:
    """Answers each POST by path: ``answers[path] = (status, headers)``; records deliveries."""

    def __init__(self, answers: dict[str, tuple[int, dict[str, str]]]) -> None:
        self.answers = answers
        self.got: list[tuple[str, str, dict[str, object]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.got.append((request.method, request.url.path, json.loads(request.content or b"{}")))
        status, headers = self.answers.get(request.url.path, (404, {}))
        return httpx.Response(status, headers=headers, text="no_service" if status >= 400 else "")


@pytest.mark.parametrize("status", [200, 204])
def test_a_2xx_answer_is_delivered(status: int) -> None:
    hook = Receiver({"/hook": (status, {})})
    with serve(hook) as url:
        post_webhook(f"{url}/hook", PAYLOAD)
    assert hook.got == [("POST", "/hook", PAYLOAD)]


def test_a_redirect_to_another_host_is_not_followed_and_not_delivered() -> None:
    hook = Receiver({"/hook": (302, {"Location": "https://login.example.com/sso"})})
    with serve(hook) as url, pytest.raises(NotifyError) as info:
        post_webhook(f"{url}/hook", PAYLOAD)
    message = str(info.value)
    assert "HTTP 302 redirecting to login.example.com" in message and "not delivered" in message
    assert "\n" not in message and len(hook.got) == 1


def test_a_redirect_on_the_same_host_is_followed_with_the_same_post() -> None:
    hook = Receiver({"/old": (308, {"Location": "/new"}), "/new": (200, {})})
    with serve(hook) as url:
        post_webhook(f"{url}/old", PAYLOAD)
    assert hook.got == [("POST", "/old", PAYLOAD), ("POST", "/new", PAYLOAD)]


def test_a_redirect_loop_on_the_same_host_ends() -> None:
    hook = Receiver({"/a": (302, {"Location": "/a"})})
    with serve(hook) as url, pytest.raises(NotifyError, match="redirected more than 3 times"):
        post_webhook(f"{url}/a", PAYLOAD)
    assert len(hook.got) == 4


@pytest.mark.parametrize("status", [304, 404, 500])
def test_any_other_answer_is_not_delivered(status: int) -> None:
    hook = Receiver({"/hook": (status, {})})
    with serve(hook) as url, pytest.raises(NotifyError, match=f"HTTP {status}"):
        post_webhook(f"{url}/hook", PAYLOAD)


def test_a_webhook_that_does_not_answer_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts, "WEBHOOK_TIMEOUT_S", 0.3)

    def stall(_request: httpx.Request) -> httpx.Response:
        time.sleep(2.0)
        return httpx.Response(200)

    with serve(stall) as url:
        t0 = time.monotonic()
        with pytest.raises(NotifyError, match=r"did not answer within 0\.3 s"):
            post_webhook(f"{url}/hook", PAYLOAD)
        assert time.monotonic() - t0 < 1.5


@pytest.mark.parametrize("bad", ["ftp://example.com/x", "not a url", "https://"])
def test_a_bad_url_is_one_line(bad: str) -> None:
    with pytest.raises(NotifyError, match="webhook URL"):
        post_webhook(bad, PAYLOAD)


def test_alerts_notify_to_a_302_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = demo_db(tmp_path / "demo.duckdb")
    hook = Receiver({"/hook": (302, {"Location": "https://elsewhere.example.com/"})})
    with serve(hook) as url:
        code = main(["alerts", "--month", "2025-01", "--db", str(db), "--notify", f"{url}/hook"])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not delivered" in err[0]
    assert "posted" not in captured.out

"""Alert rules (TOML), their evaluation on an analysis result, and Slack-compatible notification.

Rule format (``[[alerts.rules]]`` in the analysis config; add your own in an override file)::

    id = "openai_daily_cost"      # stable id
    name = "High OpenAI usage"
    metric = "daily_cost"          # daily_cost | monthly_cost | budget_share | anomaly
    providers = ["openai"]         # whose cost; empty = all providers
    budget = "database"            # budget_share only: a key of [budgets]
    basis = "actual"               # monthly_cost / budget_share: actual | forecast
    threshold = 100.0              # USD, or a share of the budget (1.5 = 150 %)
    severity = "medium"            # info | low | medium | high | critical

``daily_cost`` fires once per *episode* (consecutive billing days above the threshold);
``anomaly`` once per anomaly episode whose excess is at least ``threshold`` USD. Budget
levels (``[alerts.budget_levels]``) add one alert per budget and basis: the highest level crossed.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from contribux_costs.analysis.rulebase import Config
from contribux_costs.errors import ConfigError, ReportError
from contribux_costs.models import SEVERITIES, Alert, AnalysisResult, Severity, severity_rank


class NotifyError(ReportError):
    """Posting alerts to a webhook failed (the alerts were evaluated; delivery was not)."""


class AlertRule(BaseModel):
    """One configured alert rule (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    metric: Literal["daily_cost", "monthly_cost", "budget_share", "anomaly"]
    providers: list[str] = []
    budget: str | None = None
    basis: Literal["actual", "forecast"] = "actual"
    threshold: float
    severity: Severity


def load_rules(cfg: Config) -> list[AlertRule]:
    """The ``[[alerts.rules]]`` of the config, validated (a bad rule names itself)."""
    out = []
    for i, raw in enumerate(cfg.get("alerts.rules") or []):
        try:
            out.append(AlertRule.model_validate(raw))
        except ValidationError as exc:
            rid = raw.get("id", f"#{i + 1}") if isinstance(raw, dict) else f"#{i + 1}"
            raise ConfigError(f"alert rule {rid}: {exc.errors()[0]['msg']} ({raw!r})") from exc
    return out


def evaluate(
    result: AnalysisResult, cfg: Config, rules: list[AlertRule] | None = None
) -> list[Alert]:
    """Every configured rule plus the budget levels, evaluated on ``result``."""
    out: list[Alert] = []
    for rule in load_rules(cfg) if rules is None else rules:
        out.extend(_RULE_KINDS[rule.metric](rule, result, cfg))
    out.extend(budget_levels(result, cfg))
    out = one_per_event(out)
    return sorted(out, key=lambda a: (-severity_rank(a.severity), a.rule_id, a.day or date.min))


def one_per_event(alerts: list[Alert]) -> list[Alert]:
    """Alerts about the same provider and day (an anomaly episode and a daily-cost threshold
    crossed by the same spike) become one alert: the most severe leads, the message names every
    rule. Alerts without a provider or day (monthly, budget) are events of their own."""
    groups: dict[tuple[str, date], list[Alert]] = {}
    out: list[Alert] = []
    for a in alerts:
        if a.provider is None or a.day is None:
            out.append(a.model_copy(update={"rules": a.rules or [a.rule_id]}))
        else:
            groups.setdefault((a.provider, a.day), []).append(a)
    for same in groups.values():
        same.sort(key=lambda a: -severity_rank(a.severity))
        lead, others = same[0], same[1:]
        message = "; ".join([lead.message, *(o.message for o in others)])
        out.append(
            lead.model_copy(
                update={
                    "name": " + ".join(dict.fromkeys(a.name for a in same)),
                    "message": message,
                    "rules": [a.rule_id for a in same],
                }
            )
        )
    return out


def alerts_at_or_above(alerts: list[Alert], severity: str) -> list[Alert]:
    """The alerts whose severity is ``severity`` or worse (a bad name is a ConfigError)."""
    if severity not in SEVERITIES:
        raise ConfigError(f"unknown severity {severity!r}: use one of {', '.join(SEVERITIES)}")
    floor = severity_rank(severity)
    return [a for a in alerts if severity_rank(a.severity) >= floor]


def _costs(result: AnalysisResult, providers: list[str], basis: str) -> Decimal:
    if basis == "forecast":
        by = result.projected_monthly_cost.by_provider
        return sum((v for p, v in by.items() if not providers or p in providers), Decimal(0))
    usage = result.current_usage
    return sum(
        (u.cost_usd for p, u in usage.items() if not providers or p in providers), Decimal(0)
    )


def _daily_cost(rule: AlertRule, result: AnalysisResult, cfg: Config) -> list[Alert]:
    days: dict[date, Decimal] = {}
    for p, u in result.current_usage.items():
        if not rule.providers or p in rule.providers:
            for d, v in u.daily_cost.items():
                days[d] = days.get(d, Decimal(0)) + v
    over = sorted(d for d, v in days.items() if v > Decimal(str(rule.threshold)))
    out = []
    for episode in _episodes(over):
        peak = max(episode, key=lambda d: days[d])
        span = f"{episode[0]}" + (f" to {episode[-1]}" if len(episode) > 1 else "")
        out.append(
            _alert(rule, float(days[peak]), "daily", episode[0],
                   f"{rule.name}: daily cost ${days[peak]:.2f} on {span} > ${rule.threshold:g}")
        )  # fmt: skip
    return out


def _episodes(days: list[date]) -> list[list[date]]:
    out: list[list[date]] = []
    for d in days:
        if out and d - out[-1][-1] == timedelta(days=1):
            out[-1].append(d)
        else:
            out.append([d])
    return out


def _monthly_cost(rule: AlertRule, result: AnalysisResult, cfg: Config) -> list[Alert]:
    cost = _costs(result, rule.providers, rule.basis)
    if cost <= Decimal(str(rule.threshold)):
        return []
    msg = f"{rule.name}: {rule.basis} monthly cost ${cost:.2f} > ${rule.threshold:g}"
    return [_alert(rule, float(cost), rule.basis, None, msg)]


def _budget_share(rule: AlertRule, result: AnalysisResult, cfg: Config) -> list[Alert]:
    budget = _budget(cfg, rule.budget or "total")
    if budget is None:
        return []
    cost = _costs(result, rule.providers, rule.basis)
    share = float(cost) / budget
    if share <= rule.threshold:
        return []
    msg = (
        f"{rule.name}: {rule.basis} cost ${cost:.2f} is {share:.0%} of the "
        f"{rule.budget or 'total'} budget ${budget:,.2f} (> {rule.threshold:.0%})"
    )
    return [_alert(rule, share, rule.basis, None, msg)]


def _budget(cfg: Config, name: str) -> float | None:
    value = cfg.get(f"budgets.{name}")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _anomaly(rule: AlertRule, result: AnalysisResult, cfg: Config) -> list[Alert]:
    out = []
    for a in result.anomalies:
        wanted = not rule.providers or a.provider in rule.providers
        if not wanted or a.excess_usd < Decimal(str(rule.threshold)):
            continue
        span = f"{a.start}" + (f" to {a.end}" if a.end != a.start else "")
        msg = (
            f"{rule.name}: {a.provider} {a.service} spent ${a.cost_usd:,.2f} on {span}, "
            f"${a.excess_usd:,.2f} ({a.excess_pct:.0f}%) over its usual ${a.expected_usd:,.2f}"
            + (f"; {a.cause}" if a.cause else "")
        )
        alert = _alert(rule, float(a.excess_usd), "anomaly", a.start, msg)
        out.append(alert.model_copy(update={"provider": a.provider}))
    return out


_RULE_KINDS = {
    "daily_cost": _daily_cost,
    "monthly_cost": _monthly_cost,
    "budget_share": _budget_share,
    "anomaly": _anomaly,
}


def budget_levels(result: AnalysisResult, cfg: Config) -> list[Alert]:
    """Per budget and basis (actual; forecast for an open month): the highest level crossed."""
    levels = [float(x) for x in cfg.get("alerts.budget_levels.levels") or []]
    severities = list(cfg.get("alerts.budget_levels.severities") or [])
    if len(levels) != len(severities):
        raise ConfigError("alerts.budget_levels: levels and severities must have the same length")
    bases = ["actual"] if result.projected_monthly_cost.closed else ["actual", "forecast"]
    out = []
    for name, providers in _budgets(cfg).items():
        for basis in bases:
            alert = _level_alert(result, cfg, name, providers, basis, levels, severities)
            if alert is not None:
                out.append(alert)
    # Environment and owner budgets (issue 16): the same levels, on the budget view's figures.
    for view in (v for v in result.budgets if v.scope in ("environment", "owner")):
        for basis in bases:
            share = view.used_share if basis == "actual" else view.projected_share
            alert = _share_alert(
                f"{view.scope}.{view.name}", basis, share, view.budget_usd, levels, severities
            )
            if alert is not None:
                out.append(alert)
    return out


def configured_budgets(cfg: Config) -> dict[str, list[str]]:
    """Provider budgets of ``[budgets]``: name → the providers it covers ([] = all)."""
    return _budgets(cfg)


def _budgets(cfg: Config) -> dict[str, list[str]]:
    raw = cfg.get("budgets") or {}
    db = [str(p) for p in raw.get("database_providers", [])]
    out = {}
    for name, value in raw.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = [] if name == "total" else db if name == "database" else [name]
    return out


def _level_alert(
    result: AnalysisResult,
    cfg: Config,
    name: str,
    providers: list[str],
    basis: str,
    levels: list[float],
    severities: list[str],
) -> Alert | None:
    budget = _budget(cfg, name)
    if budget is None:
        return None
    share = float(_costs(result, providers, basis)) / budget
    return _share_alert(name, basis, share, budget, levels, severities)


def _share_alert(
    name: str,
    basis: str,
    share: float,
    budget: float | Decimal,
    levels: list[float],
    severities: list[str],
) -> Alert | None:
    crossed = [(lvl, sev) for lvl, sev in zip(levels, severities, strict=True) if share >= lvl]
    if not crossed:
        return None
    level, severity = max(crossed)
    return Alert(
        rule_id=f"budget.{name}.{basis}",
        name=f"{name} budget {level:.0%}",
        severity=severity,
        message=f"{basis} {name} cost is {share:.0%} of its ${budget:,.2f} budget (≥ {level:.0%})",
        observed=share,
        threshold=level,
        basis=basis,
    )


def _alert(rule: AlertRule, observed: float, basis: str, day: date | None, msg: str) -> Alert:
    provider = rule.providers[0] if len(rule.providers) == 1 else None
    return Alert(
        rule_id=rule.id, name=rule.name, severity=rule.severity, message=msg,
        observed=observed, threshold=rule.threshold, basis=basis, provider=provider, day=day,
    )  # fmt: skip


def format_alerts(alerts: list[Alert]) -> str:
    """One line per alert, worst first (for the CLI)."""
    if not alerts:
        return "no alerts"
    return "\n".join(
        f"[{a.severity.upper():<8}] {'+'.join(a.rules) or a.rule_id}: {a.message}" for a in alerts
    )


def alert_line(a: Alert) -> str:
    """The alert's text with its name once (rule messages already start with their name)."""
    return a.message if a.message.startswith(a.name.split(" + ")[0]) else f"{a.name}: {a.message}"


def slack_payload(
    alerts: list[Alert], month: str | None = None, report: str | None = None
) -> dict[str, object]:
    """A Slack-compatible incoming-webhook message (``text`` plus mrkdwn blocks); ``report``:
    the report's URL or path, carried in the text and as the last block."""
    head = f"contribux-costs: {len(alerts)} alert(s)" + (f" for {month}" if month else "")
    lines = [f"*{a.severity.upper()}* {alert_line(a)}" for a in alerts]
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines) or "none"}},
    ]
    if report:
        link = f"<{report}|report>" if "://" in report else report
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
    return {"text": head + (f" — report: {report}" if report else ""), "blocks": blocks}


def notify(
    url: str,
    alerts: list[Alert],
    client: httpx.Client | None = None,
    month: str | None = None,
    report: str | None = None,
) -> None:
    """POST the alerts to a Slack-compatible webhook; raise :class:`NotifyError` on failure."""
    post_webhook(url, slack_payload(alerts, month, report), client)


WEBHOOK_TIMEOUT_S = 10.0
MAX_REDIRECTS = 3


def post_webhook(url: str, payload: dict[str, object], client: httpx.Client | None = None) -> None:
    """POST ``payload`` as JSON to ``url``: delivered only when the answer is 2xx.

    A redirect is followed (the same POST again) only to the same scheme, host and port, at most
    ``MAX_REDIRECTS`` times: a webhook answering 302 elsewhere (a login page, a moved endpoint)
    has not received anything, and re-sending the payload to another host could leak it. Every
    failure is one :class:`NotifyError` line naming the host, never the URL's secret path.
    """
    target = _webhook_url(url)
    own = client is None
    http = client or httpx.Client(timeout=WEBHOOK_TIMEOUT_S, follow_redirects=False)
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            response = _post(http, target, payload)
            if response.is_success:
                return
            if not response.is_redirect:
                said = " ".join(response.text[:100].split())
                raise NotifyError(
                    f"the webhook at {target.host} answered HTTP {response.status_code} "
                    f"({said!r}): not delivered; check the URL"
                )
            target = _same_host_redirect(target, response)
        raise NotifyError(
            f"the webhook at {target.host} redirected more than {MAX_REDIRECTS} times"
        )
    finally:
        if own:
            http.close()


def _webhook_url(url: str) -> httpx.URL:
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise NotifyError(f"the webhook URL is not a URL ({exc})") from None
    if target.scheme not in ("http", "https") or not target.host:
        raise NotifyError("the webhook URL must start with https:// (or http://) and name a host")
    return target


def _post(http: httpx.Client, target: httpx.URL, payload: dict[str, object]) -> httpx.Response:
    try:
        return http.post(target, json=payload)
    except httpx.TimeoutException:
        raise NotifyError(
            f"the webhook at {target.host} did not answer within {WEBHOOK_TIMEOUT_S:g} s: "
            "not delivered"
        ) from None
    except httpx.HTTPError as exc:
        raise NotifyError(
            f"posting to the webhook at {target.host} failed ({type(exc).__name__}): not delivered"
        ) from None


def _same_host_redirect(target: httpx.URL, response: httpx.Response) -> httpx.URL:
    location = response.headers.get("location")
    nxt = target.join(location) if location else None
    if nxt is None or (nxt.scheme, nxt.host, nxt.port) != (target.scheme, target.host, target.port):
        where = nxt.host if nxt is not None else "nowhere"
        raise NotifyError(
            f"the webhook at {target.host} answered HTTP {response.status_code} redirecting to "
            f"{where}: redirects to another host are not followed; not delivered"
        )
    return nxt

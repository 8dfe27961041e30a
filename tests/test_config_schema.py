"""The analysis config and the price-book override validated against a schema (issue 13,
defect 3): types, signs, known sections and keys (the nearest one suggested), one line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from contribux_costs.analysis.config_schema import check_override
from contribux_costs.analysis.rulebase import Config
from contribux_costs.cli import main
from contribux_costs.errors import ConfigError, PricingError
from contribux_costs.pricing import load_pricebook


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "analysis.toml"
    path.write_text(text)
    return Config.load(path)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[budgets]\ntotal = "lots"', "budgets.total = 'lots' must be a number > 0"),
        ("[budgets]\nvercel = -500", "budgets.vercel = -500 must be a number > 0"),
        ("[budgets]\nopenai = 0", "budgets.openai = 0 must be a number > 0"),
        ("[budgets.owners]\nai = -5", "budgets.owners.ai = -5 must be a number > 0"),
        ('[budgets.environments]\nstaging = "x"', "budgets.environments.staging = 'x' must be"),
        ("[budgets.environments]\nstagin = 5.0", "did you mean budgets.environments.staging?"),
        ("[budgetz]\ntotal = 100.0", "unknown section [budgetz]; did you mean [budgets]?"),
        ("[budgets]\nopenaii = 100.0", "unknown key budgets.openaii; did you mean budgets.openai?"),
        ("[anomalies]\nmin_excess = -1", "anomalies.min_excess = -1 must be a number ≥ 0"),
        ("[anomalies]\nmin_pct = nan", "anomalies.min_pct = nan must be a finite number"),
        ('[anomalies]\nweeks = "4"', "anomalies.weeks = '4' must be a number"),
        ("[vercel]\nincluded_transfer = 5.0", "did you mean vercel.included_transfer_gb?"),
        ("[general]\nrule_order = [1]", "general.rule_order[1] = 1 must be a string"),
        ("[upstash.fixed_plans]\nx = 1", "upstash.fixed_plans = {'x': 1} must be a list"),
        (
            '[[alerts.rules]]\nid = "a"\nname = "b"\nmetric = "daily_cost"\nthreshhold = 5.0\n'
            'severity = "low"',
            "unknown key alerts.rules[1].threshhold; did you mean alerts.rules[1].threshold?",
        ),
        ("[[cache.layers]]\nkey_class = 1", "cache.layers[1].key_class = 1 must be a string"),
        ('[openai.list_prices]\n"gpt-5" = [1.25, "x", 10.0]', "[2] = 'x' must be a number"),
    ],
)
def test_a_bad_setting_is_one_line_naming_file_key_and_value(
    tmp_path: Path, text: str, says: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    message = str(info.value)
    assert message.startswith(f"analysis config {tmp_path / 'analysis.toml'}: ")
    assert says in message and "\n" not in message


def test_good_overrides_still_merge(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "[budgets]\nneon = 80\ntotal = 5000\n"
        '[openai.list_prices]\n"gpt-5" = [1.25, 0.125, 10.0]\n'
        '[openai.downgrade.targets]\n"gpt-5" = "gpt-5-mini"\n'
        '[[openai.batch.workloads]]\nproject_id = "p"\nmodel = "*"\nreason = "evals"\n',
    )
    assert cfg.get("budgets.neon") == 80 and cfg.get("budgets.openai") == 2000.0
    assert cfg.get("openai.list_prices")["gpt-5"] == [1.25, 0.125, 10.0]
    assert cfg.get("openai.downgrade.targets")["gpt-4o"] == "gpt-4o-mini"


def test_the_cli_says_it_in_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "analysis.toml"
    path.write_text('[budgets]\ntotal = "lots"\n')
    monkeypatch.setenv("CONTRIBUX_COSTS_CONFIG", str(path))
    assert main(["analyze", "--month", "2025-01", "--db", str(tmp_path / "x.duckdb")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "budgets.total = 'lots'" in err[0]


def test_the_defaults_pass_their_own_schema() -> None:
    defaults = Config.load().data
    check_override(defaults, defaults, "defaults.toml")  # raises at the first bad key


ENTRY = (
    '[[entries]]\nid = "neon.compute.deal"\nsku = "neon/compute"\nplan = "*"\nprice = "0.10"\n'
    'unit = "CU-hours"\npricing_unit = "CU-hour"\n'
)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (ENTRY + 'effective_from = "2025-13-01"\n', "effective_from = '2025-13-01'"),
        (ENTRY + "efective_from = 2026-01-01\n", "did you mean effective_from?"),
        (ENTRY.replace('"0.10"', '"-1"') + "effective_from = 2026-01-01\n", "price = -1"),
        ('[[entrys]]\nid = "x"\n', "unknown section entrys; did you mean entries?"),
        ('[openai]\nfamilys = ["gpt-9"]\n', "unknown key openai.familys; did you mean"),
        ("[[entries]]\nid = \n", "is not valid TOML"),
    ],
)
def test_a_bad_price_override_is_one_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(PricingError) as info:
        load_pricebook(path)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_a_good_price_override_loads(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(ENTRY + "effective_from = 2026-01-01\n")
    book = load_pricebook(path)
    assert any(e.id == "neon.compute.deal" and e.origin == "override" for e in book.entries)

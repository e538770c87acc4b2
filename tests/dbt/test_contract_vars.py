"""dbt reads the data contract's statuses and limits from project variables kept in step with
lab.contract."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from lab.contract import REVENUE_STATUSES, STATUSES, UPDATE_MAX_DAYS_BACK

DBT = Path(__file__).resolve().parents[2] / "dbt"


def test_the_project_variables_are_the_contract_statuses():
    project = yaml.safe_load((DBT / "dbt_project.yml").read_text())
    assert tuple(project["vars"]["order_statuses"]) == STATUSES
    assert tuple(project["vars"]["revenue_statuses"]) == REVENUE_STATUSES


def test_the_incremental_look_back_is_the_contracts_update_reach():
    project = yaml.safe_load((DBT / "dbt_project.yml").read_text())
    assert project["vars"]["update_max_days_back"] == UPDATE_MAX_DAYS_BACK
    model = (DBT / "models" / "marts" / "orders.sql").read_text()
    assert "var('update_max_days_back')" in model, "the orders model reads the window from the var"


def test_no_model_or_macro_writes_the_status_list_again():
    quoted = re.compile(r"""['"](placed|shipped|completed|returned|return_pending)['"]""")
    found = [
        f"{path.relative_to(DBT)}: {line.strip()}"
        for path in sorted([*DBT.glob("models/**/*"), *DBT.glob("macros/**/*")])
        if path.is_file()
        for line in path.read_text().splitlines()
        if len(quoted.findall(line)) > 1
    ]
    assert not found, "use var('order_statuses') or var('revenue_statuses'):\n" + "\n".join(found)

"""The dbt SQL follows the house style of the committed `.sqlfluff` (`make lint` runs it too)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SQL_FOLDERS = (ROOT / "dbt" / "models", ROOT / "dbt" / "macros")


@pytest.fixture(scope="module")
def linter():
    from sqlfluff.core import FluffConfig, Linter

    return Linter(config=FluffConfig.from_path(str(ROOT)))


def test_every_model_and_macro_passes_sqlfluff(linter):
    records = linter.lint_paths(tuple(str(p) for p in SQL_FOLDERS)).as_records()
    linted = {Path(r["filepath"]).name for r in records}
    assert {"stg_orders.sql", "daily_revenue.sql", "counts_as_revenue.sql"} <= linted, linted
    violations = [
        f"{r['filepath']}:{v['start_line_no']} {v['code']} {v['description']}"
        for r in records
        for v in r["violations"]
    ]
    assert not violations, (
        "sqlfluff finds (`.venv/bin/sqlfluff fix dbt/models` fixes most):\n" + "\n".join(violations)
    )


def test_the_house_style_is_enforced_not_just_configured(linter):
    sloppy = (
        "with\n\norders as (\n\n    select * from {{ ref('stg_orders') }}\n\n),\n\n"
        "final as (\n\n    SELECT order_id o, amount from orders\n\n)\n\nselect * from final\n"
    )
    found = {v.rule_code() for v in linter.lint_string(sloppy, fname="sloppy.sql").violations}
    assert {"CP01", "AL02"} <= found, f"expected upper-case keywords and an implicit alias: {found}"

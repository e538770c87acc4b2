"""The expectation suites as code declares them: what the quality gate checks in each table.

`lab.quality` writes them into the GX project and runs them; a learner's own expectations
(`lab.quality.learner_suite`) are added to them, never written here.
"""

from __future__ import annotations

from typing import Any

from lab.config import RAW_CUSTOMERS, RAW_ORDERS
from lab.contract import STATUSES

# suite name -> (table it validates, [(expectation class, kwargs), ...])
SUITES: dict[str, tuple[str, list[tuple[str, dict[str, Any]]]]] = {
    "raw_customers": (
        RAW_CUSTOMERS,
        [
            ("ExpectTableRowCountToBeBetween", {"min_value": 1}),
            ("ExpectColumnValuesToNotBeNull", {"column": "id"}),
            ("ExpectColumnValuesToBeUnique", {"column": "id"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "first_name"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "last_name"}),
        ],
    ),
    "orders": (
        RAW_ORDERS,
        [
            ("ExpectTableRowCountToBeBetween", {"min_value": 1}),
            ("ExpectColumnValuesToBeUnique", {"column": "order_id"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "customer_id"}),
            ("ExpectColumnValuesToBeBetween", {"column": "customer_id", "min_value": 1}),
            ("ExpectColumnValuesToBeInSet", {"column": "status", "value_set": list(STATUSES)}),
            (
                "ExpectColumnValuesToBeBetween",
                {"column": "amount", "min_value": 0, "max_value": 1000},
            ),
            (
                "ExpectColumnMeanToBeBetween",
                {"column": "amount", "min_value": 10, "max_value": 250},
            ),
        ],
    ),
}


def declared_expectations(suite: str) -> list:
    """The suite as this module declares it (`SUITES`), without a learner's additions."""
    import great_expectations.expectations as gxe

    return [getattr(gxe, cls)(**kwargs) for cls, kwargs in SUITES[suite][1]]


def suite_signature(expectations) -> list[tuple[str, str]]:
    return sorted(
        (
            type(e).__name__,
            repr(sorted((k, v) for k, v in e.configuration.kwargs.items() if k != "batch_id")),
        )
        for e in expectations
    )

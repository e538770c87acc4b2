"""The pool of the tasks that write the warehouse: its name is the DAGs', its size the profile's.

The DAG files name the pool (`dag_support.WAREHOUSE_POOL`) without knowing the profile; whoever
creates the pool asks the profile for its size: `lab.airflow.local.setup_metadata` on `local`,
and the stack's `airflow-init`, which runs `python -m lab.airflow.pool` for the arguments of
`airflow pools set` (one a line).
"""

from __future__ import annotations

from lab.airflow.dag_support import WAREHOUSE_POOL
from lab.profiles import Profile, profile_of


def pool_args(profile: Profile) -> tuple[str, ...]:
    """`airflow pools set` with the pool's name, the profile's slots and its description."""
    return (
        "pools",
        "set",
        WAREHOUSE_POOL,
        str(profile.airflow_pool_slots),
        profile.airflow_pool_description,
    )


def main() -> int:
    """Print the arguments for the active profile (LAB_PROFILE), one a line."""
    print("\n".join(pool_args(profile_of())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

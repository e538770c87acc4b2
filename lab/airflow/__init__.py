"""Airflow: what the DAG files import, what their tasks call, and Airflow on this machine.

`lab` never imports airflow itself; the DAG files in `dags/` do, and these modules are what
they call.

    dag_support  the pool, retries and tasks the DAG files build from (read at parse time)
    dag_rules    the house rules of a DAG file, read as source
    tasks        what the DAGs' tasks call when they run
    local        `make airflow` and `lab airflow cli ...`
    api          a client for Airflow's REST API v2
"""

"""Data Engineering Sandbox: the code every notebook, DAG, test and the CLI share."""


def sql(query: str, params=None):
    """Run a query on the warehouse of the active profile and return a DataFrame.

    The connection lives only for this call, so no cell keeps the DuckDB file locked.
    """
    from lab.profiles import get_warehouse

    return get_warehouse().query(query, params)

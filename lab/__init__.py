"""Data Engineering Sandbox: the code every notebook, DAG, test and the CLI share."""

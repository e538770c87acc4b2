"""Watching the pipeline: run metrics, Prometheus and Loki, and the plots drawn from them.

    metrics     one row a step in `ops.step_runs`, and the same in Prometheus format
    monitoring  PromQL and LogQL over HTTP, DataFrames back
    plots       the monitoring lesson's plots
"""

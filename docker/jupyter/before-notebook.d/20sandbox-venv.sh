#!/bin/bash
# Sourced by docker-stacks' start.sh (run-hooks.sh, in name order) right before it starts
# JupyterLab. The image's 10activate-conda-env.sh, sourced just before this one, activates conda's
# base environment and puts /opt/conda/bin first on PATH; JupyterLab would then start from conda's
# Python, which has neither `lab` nor dbt. This puts the project's environment first again.
# start.sh hands PATH to JupyterLab explicitly (sudo ... PATH="${PATH}").
if [ -x "${VIRTUAL_ENV:-/opt/venv}/bin/python" ]; then
    export PATH="${VIRTUAL_ENV:-/opt/venv}/bin:${PATH}"
fi

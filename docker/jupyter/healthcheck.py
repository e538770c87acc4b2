"""The JupyterLab container's healthcheck: the server answers, and its "python3" kernel is the
project's environment (not the base image's conda Python, which has no `lab`)."""

import json
import os
import sys
import urllib.request

URL = os.environ.get("JUPYTER_HEALTH_URL", "http://127.0.0.1:8888")
EXPECTED = os.path.join(os.environ.get("VIRTUAL_ENV", "/opt/venv"), "bin", "python")

request = urllib.request.Request(
    f"{URL}/api/kernelspecs",
    headers={"Authorization": f"token {os.environ.get('JUPYTER_TOKEN', '')}"},
)
with urllib.request.urlopen(request, timeout=5) as response:
    specs = json.load(response)
argv = specs["kernelspecs"].get("python3", {}).get("spec", {}).get("argv", [])
if not argv or argv[0] != EXPECTED:
    sys.exit(f"the python3 kernel runs {argv[:1]}, expected {EXPECTED}")
print(f"JupyterLab answers; python3 kernel: {argv[0]}")

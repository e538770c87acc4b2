"""A client for Airflow's REST API v2, as a script outside Airflow would use it.

    from lab.airflow.api import AirflowClient
    from lab.airflow.local import AIRFLOW_PASSWORD, AIRFLOW_USER, airflow_url

    client = AirflowClient(airflow_url(), AIRFLOW_USER, AIRFLOW_PASSWORD)
    client.trigger("notebook_pipeline", conf={"rows": 300})

Only the standard library: it works without Airflow installed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from lab.errors import AirflowError


class AirflowClient:
    """A small client for Airflow's REST API v2, as a script outside Airflow would use it.

    It gets a JWT from `/auth/token` with a user's name and password, then sends it as a
    bearer token.
    """

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self._token: str | None = None

    def _request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token()}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise AirflowError(f"{method} {path} answered {exc.code}: {detail}") from None
        return json.loads(payload) if payload else None

    def token(self) -> str:
        """A JWT for the user (POST /auth/token), fetched once."""
        if self._token is None:
            answer = self._request(
                "POST",
                "/auth/token",
                {"username": self.username, "password": self.password},
                auth=False,
            )
            self._token = answer["access_token"]
        return self._token

    def health(self) -> dict:
        return self._request("GET", "/api/v2/monitor/health", auth=False)

    def dag(self, dag_id: str) -> dict:
        return self._request("GET", f"/api/v2/dags/{dag_id}")

    def unpause(self, dag_id: str) -> dict:
        return self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(
        self,
        dag_id: str,
        logical_date: dt.datetime | None = None,
        conf: dict | None = None,
        run_id: str | None = None,
        run_after: dt.datetime | None = None,
    ) -> dict:
        """POST a new DAG run; `logical_date` None makes a run without one (Airflow 3), which
        processes the day of its `run_after` (default: now)."""
        body: dict[str, Any] = {
            "logical_date": logical_date.isoformat() if logical_date else None,
            "conf": conf or {},
        }
        if run_id:
            body["dag_run_id"] = run_id
        if run_after:
            body["run_after"] = run_after.isoformat()
        return self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)

    def runs(self, dag_id: str) -> list[dict]:
        """Every run of a DAG (the newest 100)."""
        answer = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")
        return answer["dag_runs"]

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        answer = self._request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances"
        )
        return answer["task_instances"]

    def links(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str | None]:
        """A task instance's extra links, by name (e.g. "Executed notebook")."""
        answer = self._request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances/{task_id}/links",
        )
        return answer["extra_links"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 300, poll: float = 2) -> dict:
        """Poll a DAG run until it finishes (success or failed); raise TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.dag_run(dag_id, run_id)
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"DAG run {dag_id}/{run_id} is still {run['state']!r} after {timeout:.0f} s"
                )
            time.sleep(poll)


def _quote(value: str) -> str:
    return quote(value, safe="")

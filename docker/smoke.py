"""`make smoke`: after `make up`, prove that the stack works end to end. One line a check.

    .venv/bin/python docker/smoke.py [--env-file .env] [--url NAME=URL ...] [--timeout 900]

It answers every service's endpoint on 127.0.0.1, logs into Airflow with the admin login from
.env, triggers `example_dag` through the REST API and waits for it to succeed, then checks what
that run made (the buckets, the `stg_customers` view in the warehouse, the validation result in
the artifacts bucket), runs a cell in a JupyterLab kernel that imports `lab` and reads that view,
checks that Prometheus scrapes every target, that Grafana serves the provisioned dashboards and
that each provisioned data source passes Grafana's own health check, and that Loki holds log
lines Alloy shipped from Airflow and from JupyterLab. A failed check names its service and the
address it tried; the others still run. Exit status 0 only when every check passed.

`--url NAME=URL` points a service somewhere else (the tests use it for stand-ins).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `lab`, when run as a file

DEFAULT_URLS = {
    "postgres": "127.0.0.1:5432",
    "rustfs": "http://127.0.0.1:9000",
    "rustfs-console": "http://127.0.0.1:9001",
    "airflow": "http://127.0.0.1:8080",
    "jupyter": "http://127.0.0.1:8888",
    "prometheus": "http://127.0.0.1:9090",
    "pushgateway": "http://127.0.0.1:9091",
    "grafana": "http://127.0.0.1:3000",
    "loki": "http://127.0.0.1:3100",
    "alloy": "http://127.0.0.1:12345",
    "flower": "http://127.0.0.1:5555",
}
PROJECT = "data-engineering-sandbox"  # the compose project name (docker-compose.yml `name:`)
DAG_ID = "example_dag"
JUPYTER_PYTHON = "/opt/venv/bin/python"
DASHBOARDS = REPO / "docker" / "grafana" / "dashboards"
DATASOURCES = REPO / "docker" / "grafana" / "provisioning" / "datasources" / "datasources.yml"
# The cell the jupyter-kernel check runs: the lessons' first steps (import lab, read the warehouse).
KERNEL_CELL = (
    "import lab\n"
    "from lab.profiles import get_warehouse\n"
    'rows = get_warehouse().query("select count(*) as n from public.stg_customers")["n"].iloc[0]\n'
    'print(f"stg_customers: {rows} rows")'
)
# Loki must hold lines of these compose services (a prefix stands for every service it starts).
LOG_SOURCES = {"Airflow": "airflow-", "JupyterLab": "jupyter"}
# The checks in the order they run, each a `Smoke.check_<name>` method: first every service's
# endpoint (flower only with the celery Compose profile), then what works end to end.
ENDPOINT_CHECKS = (
    "postgres",
    "rustfs",
    "rustfs-console",
    "airflow",
    "jupyter",
    "prometheus",
    "pushgateway",
    "grafana",
    "loki",
    "alloy",
)
CELERY_CHECKS = ("flower",)
END_TO_END_CHECKS = (
    "airflow-login",
    "example-dag",
    "buckets",
    "stg-customers",
    "validation",
    "jupyter-kernel",
    "prometheus-targets",
    "grafana-dashboards",
    "grafana-datasources",
    "loki-lines",
)


class CheckFailed(Exception):
    """A check's one-sentence failure."""


class Smoke:
    def __init__(self, env: dict[str, str], urls: dict[str, str], timeout: float):
        self.env = env
        self.urls = urls
        self.timeout = timeout
        self.run_id: str | None = None

    # --- helpers --------------------------------------------------------------------------

    def http(
        self,
        service: str,
        path: str,
        *,
        headers: dict | None = None,
        timeout: float = 10,
        method: str = "GET",
        body: dict | None = None,
    ) -> tuple[int, bytes]:
        url = self.urls[service].rstrip("/") + path
        data = json.dumps(body).encode() if body is not None else None
        headers = {**(headers or {}), **({"Content-Type": "application/json"} if data else {})}
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CheckFailed(f"{url} does not answer ({reason})") from None

    def ok(self, service: str, path: str, **kwargs: Any) -> bytes:
        status, body = self.http(service, path, **kwargs)
        if status != 200:
            url = self.urls[service].rstrip("/") + path
            raise CheckFailed(f"{url} answered HTTP {status}: {body[:200]!r}")
        return body

    def basic(self, user_key: str, password_key: str) -> dict[str, str]:
        pair = f"{self.env.get(user_key, '')}:{self.env.get(password_key, '')}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    def airflow(self):
        from lab.airflow.api import AirflowClient

        return AirflowClient(
            self.urls["airflow"],
            self.env.get("AIRFLOW_ADMIN_USER", "airflow"),
            self.env.get("AIRFLOW_ADMIN_PASSWORD", "airflow"),
        )

    def s3(self):
        import s3fs

        return s3fs.S3FileSystem(
            key=self.env.get("RUSTFS_ACCESS_KEY"),
            secret=self.env.get("RUSTFS_SECRET_KEY"),
            client_kwargs={
                "endpoint_url": self.urls["rustfs"],
                "region_name": self.env.get("S3_REGION", "us-east-1"),
            },
            config_kwargs={
                "connect_timeout": 5,
                "read_timeout": 10,
                "retries": {"max_attempts": 1},
            },
            skip_instance_cache=True,
        )

    def warehouse_url(self) -> str:
        target = self.urls["postgres"]
        if "://" in target:
            return target
        user = urllib.parse.quote(self.env.get("WAREHOUSE_DB_USER", "warehouse"), safe="")
        password = urllib.parse.quote(self.env.get("WAREHOUSE_DB_PASSWORD", ""), safe="")
        return f"postgresql://{user}:{password}@{target}/warehouse"

    def sql(self, query: str) -> list[tuple]:
        import psycopg

        try:
            with psycopg.connect(self.warehouse_url(), connect_timeout=5) as con:
                return con.execute(query).fetchall()
        except psycopg.Error as error:
            where = self.warehouse_url().rsplit("@", 1)[-1]
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise CheckFailed(f"warehouse at {where}: {first}") from None

    # --- the services' endpoints ----------------------------------------------------------

    def check_postgres(self) -> str:
        version = self.sql("select current_setting('server_version')")[0][0]
        return f"PostgreSQL {version}, warehouse database reachable"

    def check_rustfs(self) -> str:
        self.ok("rustfs", "/health")
        return "S3 API healthy"

    def check_rustfs_console(self) -> str:
        status, _ = self.http("rustfs-console", "/")
        if status >= 500:
            raise CheckFailed(f"{self.urls['rustfs-console']} answered HTTP {status}")
        return f"console answers (HTTP {status})"

    def check_airflow(self) -> str:
        health = json.loads(self.ok("airflow", "/api/v2/monitor/health"))
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        bad = {p: (health.get(p) or {}).get("status") for p in parts}
        bad = {p: s for p, s in bad.items() if s != "healthy"}
        if bad:
            raise CheckFailed(f"{self.urls['airflow']}: not healthy: {bad}")
        return "API, metadatabase, scheduler, triggerer and DAG processor healthy"

    def check_jupyter(self) -> str:
        token = {"Authorization": f"token {self.env.get('JUPYTER_TOKEN', '')}"}
        specs = json.loads(self.ok("jupyter", "/api/kernelspecs", headers=token))
        argv = specs["kernelspecs"].get("python3", {}).get("spec", {}).get("argv", [])
        if not argv or argv[0] != JUPYTER_PYTHON:
            raise CheckFailed(
                f"{self.urls['jupyter']}: the python3 kernel runs {argv[:1]}, "
                f"expected {JUPYTER_PYTHON}"
            )
        return f"JupyterLab answers with the token; python3 kernel is {argv[0]}"

    def check_prometheus(self) -> str:
        self.ok("prometheus", "/-/ready")
        return "ready"

    def check_pushgateway(self) -> str:
        self.ok("pushgateway", "/-/ready")
        return "ready"

    def check_grafana(self) -> str:
        health = json.loads(self.ok("grafana", "/api/health"))
        if health.get("database") != "ok":
            raise CheckFailed(f"{self.urls['grafana']}: database {health.get('database')!r}")
        return f"Grafana {health.get('version', '?')}, database ok"

    def check_loki(self) -> str:
        self.ok("loki", "/ready")
        return "ready"

    def check_alloy(self) -> str:
        self.ok("alloy", "/-/ready")
        return "ready"

    def check_flower(self) -> str:
        self.ok("flower", "/healthcheck")
        return "ready"

    # --- what works end to end ------------------------------------------------------------

    def check_airflow_login(self) -> str:
        from lab.errors import AirflowError

        try:
            self.airflow().token()
        except (AirflowError, OSError) as error:
            raise CheckFailed(f"{self.urls['airflow']}/auth/token: {error}") from None
        return f"logged in as {self.env.get('AIRFLOW_ADMIN_USER', 'airflow')}"

    def check_example_dag(self) -> str:
        from lab.errors import AirflowError

        client = self.airflow()
        try:
            client.unpause(DAG_ID)
            run = client.trigger(DAG_ID)
            self.run_id = run["dag_run_id"]
            started = time.monotonic()
            done = client.wait(DAG_ID, self.run_id, timeout=self.timeout, poll=5)
        except (AirflowError, OSError, TimeoutError) as error:
            raise CheckFailed(f"{self.urls['airflow']}: {DAG_ID}: {error}") from None
        if done["state"] != "success":
            states = ", ".join(
                f"{ti['task_id']}={ti['state']}"
                for ti in client.task_instances(DAG_ID, self.run_id)
            )
            raise CheckFailed(f"{DAG_ID} run {self.run_id} ended {done['state']}: {states}")
        return f"{DAG_ID} run {self.run_id} succeeded in {time.monotonic() - started:.0f} s"

    def check_buckets(self) -> str:
        wanted = {
            self.env.get("LAB_RAW_BUCKET", "raw"),
            self.env.get("LAB_ARTIFACTS_BUCKET", "artifacts"),
        }
        try:
            found = {path.rstrip("/") for path in self.s3().ls("")}
        except Exception as error:  # botocore's errors have no common base worth importing
            raise CheckFailed(f"object store at {self.urls['rustfs']}: {error}") from None
        missing = sorted(wanted - found)
        if missing:
            raise CheckFailed(
                f"object store at {self.urls['rustfs']}: buckets {missing} missing; has {sorted(found)}"
            )
        return f"buckets {', '.join(sorted(wanted))} exist"

    def check_stg_customers(self) -> str:
        rows = self.sql("select count(*) from public.stg_customers")[0][0]
        if not rows:
            raise CheckFailed("warehouse: the stg_customers view is empty")
        return f"stg_customers view has {rows} rows"

    def check_validation(self) -> str:
        from lab.pipeline import safe_run_id

        bucket = self.env.get("LAB_ARTIFACTS_BUCKET", "artifacts")
        if not self.run_id:
            raise CheckFailed(f"no {DAG_ID} run to look for: its trigger failed above")
        prefix = f"{bucket}/validations/{safe_run_id(self.run_id)}"
        try:
            found = self.s3().find(prefix)
        except Exception as error:
            raise CheckFailed(f"object store at {self.urls['rustfs']}: {error}") from None
        if not found:
            raise CheckFailed(f"no validation result under s3://{prefix}/ at {self.urls['rustfs']}")
        return f"{len(found)} validation result file(s) under s3://{prefix}/"

    def check_jupyter_kernel(self) -> str:
        """Start a python3 kernel through JupyterLab's REST API, run KERNEL_CELL over its
        websocket, shut the kernel down; the cell's output is the detail."""
        token = {"Authorization": f"token {self.env.get('JUPYTER_TOKEN', '')}"}
        status, body = self.http(
            "jupyter", "/api/kernels", headers=token, method="POST", body={"name": "python3"}
        )
        if status not in (200, 201):
            raise CheckFailed(
                f"{self.urls['jupyter']}/api/kernels: cannot start a kernel (HTTP {status}: "
                f"{body[:200]!r})"
            )
        kernel = json.loads(body)["id"]
        try:
            base = self.urls["jupyter"].rstrip("/").replace("http", "ws", 1)
            channels = f"{base}/api/kernels/{kernel}/channels"
            output = asyncio.run(run_cell(channels, token, KERNEL_CELL, timeout=120))
        finally:
            self.http("jupyter", f"/api/kernels/{kernel}", headers=token, method="DELETE")
        return f"a python3 kernel ran `import lab` and read the warehouse: {output.strip()}"

    def check_prometheus_targets(self) -> str:
        answer = json.loads(self.ok("prometheus", "/api/v1/targets?state=active"))
        targets = answer["data"]["activeTargets"]
        down = sorted(
            f"{t['labels'].get('job')} ({t.get('lastError') or t['health']})"
            for t in targets
            if t["health"] != "up"
        )
        if not targets or down:
            raise CheckFailed(f"{self.urls['prometheus']}: targets not up: {down or 'none at all'}")
        return f"all {len(targets)} targets up"

    def check_grafana_dashboards(self) -> str:
        headers = self.basic("GRAFANA_ADMIN_USER", "GRAFANA_ADMIN_PASSWORD")
        found = json.loads(self.ok("grafana", "/api/search?type=dash-db", headers=headers))
        titles = {d["title"] for d in found}
        wanted = {json.loads(p.read_text())["title"] for p in DASHBOARDS.glob("*.json")}
        missing = sorted(wanted - titles)
        if missing:
            raise CheckFailed(f"{self.urls['grafana']}: dashboards {missing} not provisioned")
        return f"dashboards provisioned: {', '.join(sorted(wanted))}"

    def check_grafana_datasources(self) -> str:
        import yaml

        headers = self.basic("GRAFANA_ADMIN_USER", "GRAFANA_ADMIN_PASSWORD")
        provisioned = yaml.safe_load(DATASOURCES.read_text())["datasources"]
        failed, passed = [], []
        for source in provisioned:
            path = f"/api/datasources/uid/{source['uid']}/health"
            status, body = self.http("grafana", path, headers=headers, timeout=30)
            try:
                answer = json.loads(body)
            except ValueError:
                answer = {"message": body[:200].decode(errors="replace")}
            if status == 200 and str(answer.get("status", "")).upper() == "OK":
                passed.append(source["name"])
            else:
                failed.append(f"{source['name']} (HTTP {status}: {answer.get('message', '')})")
        if failed:
            raise CheckFailed(
                f"{self.urls['grafana']}: data source health check failed: {'; '.join(failed)}"
            )
        return f"data sources healthy: {', '.join(passed)}"

    def check_loki_lines(self) -> str:
        query = urllib.parse.urlencode(
            {
                "query": f'sum by (service_name) (count_over_time({{compose_project="{PROJECT}"}}[15m]))',
                "time": str(time.time()),
            }
        )
        answer = json.loads(self.ok("loki", f"/loki/api/v1/query?{query}"))
        services = {r["metric"].get("service_name") or "" for r in answer["data"]["result"]}
        missing = [
            f"{source} ({prefix}*)" if prefix.endswith("-") else f"{source} ({prefix})"
            for source, prefix in LOG_SOURCES.items()
            if not any(name.startswith(prefix) for name in services)
        ]
        if missing:
            raise CheckFailed(
                f"{self.urls['loki']}: no log lines of {PROJECT} from {', '.join(missing)} in the "
                f"last 15 min; lines from: {', '.join(sorted(services)) or 'no service'} (is Alloy "
                f"running? {self.urls['alloy']})"
            )
        return (
            f"Loki holds lines Alloy shipped from {len(services)} services, Airflow and "
            "JupyterLab among them"
        )

    # --- running ----------------------------------------------------------------------------

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        profiles = {p.strip() for p in (self.env.get("COMPOSE_PROFILES") or "").split(",")}
        celery = CELERY_CHECKS if "celery" in profiles else ()
        names = [*ENDPOINT_CHECKS, *celery, *END_TO_END_CHECKS]
        return [(name, getattr(self, "check_" + name.replace("-", "_"))) for name in names]

    def run(self, say: Callable[[str], None] = print) -> int:
        failed = 0
        checks = self.checks()
        width = max(len(name) for name, _ in checks)
        for name, check in checks:
            try:
                detail, ok = check(), True
            except CheckFailed as error:
                detail, ok = str(error), False
            except Exception as error:  # a check reports, it never stops the others
                detail, ok = f"{type(error).__name__}: {error}", False
            failed += not ok
            say(f"{'ok  ' if ok else 'FAIL'}  {name:<{width}}  {detail}")
        say(f"smoke: {len(checks) - failed} passed, {failed} failed")
        return 1 if failed else 0


async def run_cell(url: str, headers: dict[str, str], code: str, timeout: float) -> str:
    """Execute `code` on a kernel's websocket channels (Jupyter's JSON message protocol); return
    what it printed. Raises CheckFailed with the kernel's error."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    try:
        connection = await websocket_connect(HTTPRequest(url, headers=headers, connect_timeout=10))
    except OSError as error:
        raise CheckFailed(f"{url}: no websocket ({error})") from None
    msg_id = uuid.uuid4().hex
    connection.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "session": uuid.uuid4().hex,
                    "username": "smoke",
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False},
                "channel": "shell",
                "buffers": [],
            }
        )
    )
    printed, error, replied, idle = [], None, False, False
    deadline = time.monotonic() + timeout
    try:
        while not (replied and idle):
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed(f"{url}: the cell did not finish within {timeout:.0f} s")
            raw = await asyncio.wait_for(connection.read_message(), left)
            if raw is None:
                raise CheckFailed(f"{url}: the kernel's websocket closed")
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                printed.append(content["text"])
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "execute_reply":
                replied = True
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
    except TimeoutError:
        raise CheckFailed(f"{url}: the cell did not finish within {timeout:.0f} s") from None
    finally:
        connection.close()
    if error:
        raise CheckFailed(f"the kernel's cell failed: {error}")
    return "".join(printed)


def main(argv: list[str] | None = None) -> int:
    from dotenv import dotenv_values

    parser = argparse.ArgumentParser(prog="docker/smoke.py", description=__doc__.split("\n")[0])
    parser.add_argument("--env-file", type=Path, default=REPO / ".env")
    parser.add_argument("--url", action="append", default=[], metavar="NAME=URL")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for example_dag")
    args = parser.parse_args(argv)
    if not args.env_file.exists():
        print(
            f"{args.env_file} is missing: `make up` writes it (make dotenv). Run `make up` first."
        )
        return 1
    env = {k: v or "" for k, v in dotenv_values(args.env_file).items()}
    urls = dict(DEFAULT_URLS)
    for item in args.url:
        name, _, url = item.partition("=")
        if name not in urls or not url:
            parser.error(f"--url {item!r}: expected NAME=URL with NAME one of {sorted(urls)}")
        urls[name] = url
    return Smoke(env, urls, args.timeout).run()


if __name__ == "__main__":
    sys.exit(main())

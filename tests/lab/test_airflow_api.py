"""lab.airflow.api: the REST API v2 client reports what the server answered."""

from __future__ import annotations

import pytest

from lab.airflow.api import AirflowClient
from lab.errors import AirflowError


def test_rest_client_reports_what_the_server_answered(free_port):
    import http.server
    import threading

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b'{"detail": "Invalid credentials"}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", free_port), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = AirflowClient(f"http://127.0.0.1:{free_port}", "admin", "wrong")
        with pytest.raises(
            AirflowError, match=r"POST /auth/token answered 401: .*Invalid credentials"
        ):
            client.dag("example_dag")
    finally:
        server.shutdown()
        server.server_close()

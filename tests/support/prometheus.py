"""A real Prometheus (Debian's) in the multi-host harness' central namespace, scraping
the hosts' drivers, and PromQL queries against it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse

from tests.support import multihost, wait

PORT = 9090
SCRAPE = "1s"


class Prometheus:
    def __init__(self, cluster: multihost.Cluster, targets: list[str], folder: str):
        self.cluster, self.targets, self.folder = cluster, targets, folder
        self.url = f"http://{multihost.CENTRAL_IP}:{PORT}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Prometheus":
        shutil.rmtree(self.folder, ignore_errors=True)
        os.makedirs(self.folder)
        config = os.path.join(self.folder, "prometheus.yml")
        with open(config, "w") as f:  # (YAML is a superset of JSON)
            json.dump({"global": {"scrape_interval": SCRAPE, "scrape_timeout": SCRAPE},
                       "scrape_configs": [{"job_name": "dockovn",
                                           "static_configs": [{"targets": self.targets}]}]},
                      f)
        log = open(os.path.join(self.folder, "prometheus.log"), "ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.cluster.central_ns, "prometheus",
             f"--config.file={config}", f"--storage.tsdb.path={self.folder}/data",
             f"--web.listen-address={multihost.CENTRAL_IP}:{PORT}"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        wait.until(lambda: self._get("/-/ready") is not None, 60,
                   what=f"Prometheus ready (see {self.folder}/prometheus.log)")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def query(self, promql: str) -> dict[str, float]:
        """An instant query: {instance: value} (every series keyed by its instance)."""
        text = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        if text is None:
            return {}
        answer = json.loads(text)
        return {r["metric"].get("instance", ""): float(r["value"][1])
                for r in answer["data"]["result"]}

    def error(self, promql: str) -> str | None:
        """What Prometheus says is wrong with a query (None: it runs)."""
        text = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}),
                         errors=True)
        answer = json.loads(text) if text else {"error": "no answer"}
        return None if answer.get("status") == "success" else answer.get("error", text)

    def _get(self, path: str, errors: bool = False) -> str | None:
        # From the central's namespace: the harness' addresses live there only.
        # (errors: an HTTP error's body too, where Prometheus says what is wrong)
        done = multihost.in_ns(self.cluster.central_ns, sys.executable, "-c",
                               "import sys, urllib.request, urllib.error\n"
                               "try:\n"
                               "    print(urllib.request.urlopen(sys.argv[1], timeout=5)"
                               ".read().decode())\n"
                               "except urllib.error.HTTPError as e:\n"
                               "    print(e.read().decode()); sys.exit(2)",
                               self.url + path, check=False)
        if done.returncode == 0 or (errors and done.returncode == 2):
            return done.stdout
        return None

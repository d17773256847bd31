"""Watching the cluster: a real Prometheus (Debian's) scrapes both hosts' drivers and
its PromQL answers count what `docker run` did on each; containers cannot read the
metrics; `dockovn ui` in a real headless Chromium shows both hosts and their containers,
a new container without a reload, and a trace stopped by a policy, by the policy's name.
Screenshots: build/test-artifacts/ui-*.png."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.multihost.test_multihost import create_network, network_on, run, sh_in
from tests.multihost.test_policy import started
from tests.support import browser, multihost, wait
from tests.support.docker_objects import remove
from tests.support.netns_port import NetnsPort
from tests.support.prometheus import Prometheus

pytestmark = pytest.mark.multihost

UI_PORT = 8090


@pytest.fixture(scope="module")
def prometheus(mh):
    targets = [f"{h.ip}:{multihost.METRICS_PORT}" for h in mh.cluster.hosts]
    p = Prometheus(mh.cluster, targets, os.path.join(multihost.BASE, "prometheus")).start()
    yield p
    p.stop()


def dashboard_queries() -> list[str]:
    with open(os.path.join(multihost.REPO, "packaging", "grafana", "dockovn-dashboard.json")) as f:
        board = json.load(f)
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


def per_host(mh, values: dict[str, float]) -> dict[str, float]:
    """{instance: v} -> {host name: v}."""
    names = {f"{h.ip}:{multihost.METRICS_PORT}": h.name for h in mh.cluster.hosts}
    return {names.get(instance, instance): v for instance, v in values.items()}


def joins(mh, prometheus) -> dict[str, float]:
    return per_host(mh, prometheus.query(
        'sum by (instance) (dockovn_plugin_requests_total{method="NetworkDriver.Join",outcome="ok"})'))


def test_prometheus_counts_what_each_host_did(mh, prometheus):
    assert wait.until(lambda: per_host(mh, prometheus.query('up{job="dockovn"}'))
                      == {"h1": 1.0, "h2": 1.0}, 30, step=1, what="both hosts scraped")
    before = joins(mh, prometheus)
    net = create_network(mh, "h1", "10.90.91.0/24")
    network_on(mh, "h2", net.name)
    made = []
    try:
        made += [run(mh, "h1", net.name) for _ in range(3)]
        made += [run(mh, "h2", net.name) for _ in range(2)]
        want = {"h1": before.get("h1", 0) + 3, "h2": before.get("h2", 0) + 2}
        assert wait.until(lambda: joins(mh, prometheus) == want, 30, step=1,
                          what=f"Prometheus counting {want} Joins")
        ports = per_host(mh, prometheus.query(f'dockovn_host_ports{{network="{net.name}"}}'))
        assert ports == {"h1": 3.0, "h2": 2.0}
        # The pool is cluster-wide: both hosts report the same 5 containers + gateway,
        # once each host's copy of NB has the other's last address (h1's last scrape
        # may predate h2's last run).
        assert wait.until(lambda: per_host(mh, prometheus.query(
            'dockovn_pool_addresses_used{subnet="10.90.91.0/24"}')) == {"h1": 6.0, "h2": 6.0},
            30, step=1, what="both hosts counting 6 addresses used in the pool")
        # OVS's and OVN's own counters, per host
        controllers = per_host(mh, prometheus.query(
            'dockovn_daemon_up{daemon="ovn-controller"}'))
        assert controllers == {"h1": 1.0, "h2": 1.0}
        assert per_host(mh, prometheus.query("dockovn_ovn_controller_sb_connected")) \
            == {"h1": 1.0, "h2": 1.0}
        flows = per_host(mh, prometheus.query(
            'dockovn_daemon_coverage_events_total{daemon="ovs-vswitchd",event="flow_extract"}'))
        assert set(flows) == {"h1", "h2"} and all(v > 0 for v in flows.values()), flows

        # Every query of the Grafana dashboard in the repo runs on a real Prometheus.
        for expr in dashboard_queries():
            assert prometheus.error(expr.replace("$instance", ".*")) is None, expr

        # A container cannot read them, on its host's address or (through its host's
        # NAT) another host's.
        for address in (mh.cluster.host("h1").ip, mh.cluster.host("h2").ip):
            code, out = sh_in(made[0], f"timeout 5 wget -q -O - "
                                       f"http://{address}:{multihost.METRICS_PORT}/metrics")
            assert code != 0 and "dockovn_" not in out, (address, out[:200])
    finally:
        remove(*made, net)


@pytest.fixture(scope="module")
def ui(mh):
    h1 = mh.cluster.host("h1")
    log = open(os.path.join(h1.dir, "ui.log"), "ab")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", h1.ns, sys.executable, "-m", "dockovn", "ui",
         "--address", f"127.0.0.1:{UI_PORT}", "--ovs-db", h1.ovs_db, "--ovn-rundir", h1.dir,
         "--docker-host", h1.docker_host, "--plugin-dir", h1.plugins,
         "--interval", "0.5", "--doctor-interval", "10"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        cwd=multihost.REPO)
    log.close()
    port = NetnsPort(h1.ns, "127.0.0.1", UI_PORT)
    page = f"http://127.0.0.1:{port.local_port}/"
    try:
        wait.until(lambda: _answers(page), 30, what=f"dockovn ui (see {h1.dir}/ui.log)")
        chrome = browser.chromium(h1.dir)
        try:
            yield chrome, page
        finally:
            chrome.quit()
    finally:
        port.close()
        proc.terminate()
        proc.wait(timeout=20)


def _answers(url: str) -> bool:
    import urllib.request
    try:
        return urllib.request.urlopen(url + "state", timeout=2).status == 200
    except OSError:
        return False


def _container_on(chrome, host: str, name: str):
    found = chrome.find_elements(By.CSS_SELECTOR,
                                 f'.host[data-host="{host}"] .container[data-name="{name}"]')
    return found[0] if found else None


def test_the_page_shows_the_cluster_live_and_traces(mh, ui):
    chrome, page = ui
    net = create_network(mh, "h1", "10.90.92.0/24").name
    network_on(mh, "h2", net)
    made = []
    try:
        # Endpoint labels: the policy below applies from the containers' first packet.
        db = started(mh, "h2", net, endpoint_labels={"app": "db"})
        web = started(mh, "h1", net, endpoint_labels={"app": "web"})
        made += [db, web]
        chrome.get(page)
        waiting = WebDriverWait(chrome, 30, poll_frequency=0.2)
        waiting.until(lambda c: _container_on(c, "h1", web.name) and
                      _container_on(c, "h2", db.name))
        hosts = {e.get_attribute("data-host")
                 for e in chrome.find_elements(By.CSS_SELECTOR, ".host")}
        assert {"h1", "h2"} <= hosts
        assert chrome.find_element(By.ID, "status").text == "live"
        assert chrome.find_elements(By.CSS_SELECTOR, f'#networks tr[data-network="{net}"]')
        assert chrome.find_elements(By.CSS_SELECTOR, "#raft tr.member")
        browser.screenshot(chrome, "ui-cluster")

        # A new container shows up on its host's card; the page was not reloaded.
        chrome.execute_script("window.dockovnMarker = 42;")
        later = run(mh, "h2", net)
        made.append(later)
        waiting.until(lambda c: _container_on(c, "h2", later.name))
        assert chrome.execute_script("return window.dockovnMarker;") == 42
        browser.screenshot(chrome, "ui-new-container")
        # doctor's findings for h1, all fine on a healthy cluster
        waiting.until(lambda c: c.find_elements(By.CSS_SELECTOR, "#doctor .finding"))
        failing = [e.text for e in chrome.find_elements(By.CSS_SELECTOR, "#doctor .sev-fail")]
        assert not failing, failing

        # A policy shows in its table; a trace it stops names it.
        multihost.dockovn(mh.cluster.host("h1").ns, "policy", "create", "mh-ui", "--network",
                          net, "--select", "app=db", "--from", "app=web", "--port", "tcp/80",
                          "--ovs-db", mh.cluster.host("h1").ovs_db)
        waiting.until(lambda c: c.find_elements(By.CSS_SELECTOR, '#policies tr[data-policy="mh-ui"]'))
        Select(chrome.find_element(By.ID, "trace-src")).select_by_value(web.name)
        Select(chrome.find_element(By.ID, "trace-dst")).select_by_value(db.name)
        Select(chrome.find_element(By.ID, "trace-proto")).select_by_value("tcp")
        chrome.find_element(By.ID, "trace-port").send_keys("81")
        chrome.find_element(By.ID, "trace-go").click()
        WebDriverWait(chrome, 60, poll_frequency=0.5).until(
            lambda c: "tracing" not in c.find_element(By.ID, "trace-result").text)
        result = chrome.find_element(By.ID, "trace-result").text
        browser.screenshot(chrome, "ui-trace")
        assert "does not get through" in result and "dropped by policy mh-ui" in result, result
        assert "policy: mh-ui" in result
    finally:
        multihost.dockovn(mh.cluster.host("h1").ns, "policy", "delete", "mh-ui",
                          "--ovs-db", mh.cluster.host("h1").ovs_db)
        remove(*made, mh.docker("h1").networks.get(net))
        wait.until(lambda: net not in [n.name for n in mh.docker("h2").networks.list()], 30,
                   what="network gone from h2")

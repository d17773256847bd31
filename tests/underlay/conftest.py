"""A real Neutron (ML2/OVN, MariaDB), a hypervisor and two VMs in namespaces
(tests/support/underlay.py); VM1 runs dockerd and dockovn in underlay mode."""

from __future__ import annotations

import os

import pytest

from tests.support import neutron as neutron_service
from tests.support import underlay


@pytest.fixture(scope="session")
def ul():
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, OVS)")
    missing = neutron_service.available()
    if missing:
        pytest.skip(f"Neutron cannot run here: {missing}")
    handle = underlay.start()
    try:
        yield handle
    finally:
        handle.conn.close()
        underlay.teardown()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "ul" in item.fixturenames:
        report.sections.append(("underlay logs", f"copied to {underlay.save_logs()}"))

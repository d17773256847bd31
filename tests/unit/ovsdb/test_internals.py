"""internals.check() against the installed python-ovs/ovsdbapp, and with one internal
changed (a stand-in class or function monkeypatched in: check() is pure logic over them);
the driver refusing to start on a failed check; no private field used elsewhere."""

from __future__ import annotations

import ast
import pathlib
import time

import pytest
from click.testing import CliRunner
from ovs.db import idl as ovs_idl
from ovsdbapp.backend.ovs_idl import transaction as ovsdbapp_transaction

import dockovn
from dockovn.cli import driver
from dockovn.ovsdb import internals


def test_check_passes_on_the_installed_pinned_versions():
    internals.check()


def test_check_is_cheap():
    internals.check()  # the first reads the libraries' source files
    took = min(_timed(internals.check) for _ in range(3))
    assert took < 0.05


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_a_commit_that_drops_inserts_is_named_with_the_versions(monkeypatch):
    class DropsInserts(ovs_idl.Transaction):
        def commit(self):
            for row in self._txn_rows.values():
                row._mutations.pop("_inserts", None)
            return super().commit()

    monkeypatch.setattr(ovs_idl, "Transaction", DropsInserts)
    with pytest.raises(internals.InternalsChanged) as failed:
        internals.check()
    message = str(failed.value)
    assert "Row._mutations['_inserts'] (used by insert_key)" in message
    assert "it sent nothing" in message
    assert "installed: ovs 3.6.0, ovsdbapp 3.0.0" in message
    assert "Row._data/_changes" not in message  # only what changed is named


def test_a_row_without_mutations_is_named(monkeypatch):
    class NoMutations(ovs_idl.Row):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            del self.__dict__["_mutations"]

    monkeypatch.setattr(ovs_idl, "Row", NoMutations)
    with pytest.raises(internals.InternalsChanged, match=r"Row\._mutations is missing"):
        internals.check()


def test_an_idl_without_its_session_is_named(monkeypatch):
    class Renamed(ovs_idl.Idl):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.__dict__["_connection"] = self.__dict__.pop("_session")

    monkeypatch.setattr(ovs_idl, "Idl", Renamed)
    with pytest.raises(internals.InternalsChanged) as failed:
        internals.check()
    message = str(failed.value)
    assert "Idl._session.is_connected() (used by connected): Idl._session is missing" in message
    assert "Idl._session.reconnect.set_backoff" in message


def test_do_commit_no_longer_calling_commit_block_is_named(monkeypatch):
    def do_commit(self):
        txn = ovs_idl.Transaction(self.api.idl)
        self.pre_commit(txn)
        return txn.commit_and_wait()

    monkeypatch.setattr(ovsdbapp_transaction.Transaction, "do_commit", do_commit)
    with pytest.raises(internals.InternalsChanged,
                       match=r"Transaction\.commit_block replacement .*commit_block"):
        internals.check()


def test_the_driver_refuses_to_start_when_an_internal_changed(monkeypatch):
    def changed():
        raise internals.InternalsChanged("python-ovs/ovsdbapp internals dockovn relies on "
                                         "have changed: Row._mutations is missing")

    started = []
    monkeypatch.setattr(internals, "check", changed)
    monkeypatch.setattr(driver, "run_driver", lambda **kwargs: started.append(kwargs))
    done = CliRunner().invoke(driver.driver_command, [])
    assert done.exit_code != 0
    assert "Row._mutations is missing" in done.output
    assert not started


# python-ovs/ovsdbapp private names: internals.py is the one module that may use them
PRIVATE = {"_data", "_changes", "_mutations", "_uuid_to_row", "_prereqs", "_table", "_idl",
           "_txn_rows", "_inserts", "_removes", "_session", "_db", "_outstanding_txns",
           "_tables", "_ovsdb_connection"}


def _private_use(node) -> str | None:
    """``x._field`` (not on self or cls), or getattr(x, "_field") and the like."""
    if isinstance(node, ast.Attribute) and node.attr in PRIVATE:
        mine = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
        return None if mine else f".{node.attr}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in ("getattr", "hasattr", "setattr", "delattr") \
            and any(isinstance(a, ast.Constant) and a.value in PRIVATE for a in node.args[1:2]):
        return f"{node.func.id}(..., {node.args[1].value!r})"
    return None


def test_no_private_field_is_used_outside_internals():
    root = pathlib.Path(dockovn.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "ovsdb" / "internals.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            use = _private_use(node)
            if use:
                found.append(f"{path.relative_to(root)}:{node.lineno} {use}")
    assert not found, "\n".join(found)

"""What `dockovn doctor` reports: one finding per thing it looked at.

A finding names its check (a short stable id, what the fault-matrix test and scripts
match on), says what it found in dockovn's words and, when something is wrong, what to
do about it. ``skip`` is a check that was not run because one it depends on failed:
a stopped ovn-controller is one finding, not also "chassis missing", "port unbound", ...
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass


class Severity(str, enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


HOST, CLUSTER = "host", "cluster"


@dataclass(frozen=True)
class Finding:
    check: str          # "ovn-controller", "tunnel", ... (see checkup.CHECKS)
    severity: Severity
    summary: str        # what was found
    action: str = ""    # what to do; always given for warn and fail
    subject: str = ""   # what it is about: a chassis, an endpoint, a database
    scope: str = HOST   # HOST: this machine; CLUSTER: the central and every host

    def __post_init__(self):
        if self.severity in (Severity.WARN, Severity.FAIL) and not self.action:
            raise ValueError(f"finding {self.check}: a problem must say what to do")

    @property
    def problem(self) -> bool:
        return self.severity in (Severity.WARN, Severity.FAIL)

    def as_dict(self) -> dict[str, str]:
        out = asdict(self)
        out["severity"] = self.severity.value
        return out


def ok(check: str, summary: str, subject: str = "", scope: str = HOST) -> Finding:
    return Finding(check, Severity.OK, summary, "", subject, scope)


def warn(check: str, summary: str, action: str, subject: str = "",
         scope: str = HOST) -> Finding:
    return Finding(check, Severity.WARN, summary, action, subject, scope)


def fail(check: str, summary: str, action: str, subject: str = "",
         scope: str = HOST) -> Finding:
    return Finding(check, Severity.FAIL, summary, action, subject, scope)


def skip(check: str, why: str, scope: str = HOST) -> Finding:
    return Finding(check, Severity.SKIP, f"not checked: {why}", "", "", scope)


def failed(findings: list[Finding]) -> bool:
    """True when any finding is a failure: doctor's exit status is then 1."""
    return any(f.severity is Severity.FAIL for f in findings)


def worst(findings: list[Finding]) -> Severity:
    """The most serious severity among ``findings`` (SKIP only when all were skipped)."""
    for level in (Severity.FAIL, Severity.WARN, Severity.OK):
        if any(f.severity is level for f in findings):
            return level
    return Severity.SKIP

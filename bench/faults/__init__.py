"""Faults under churn: the fault suite (tests/multihost/test_faults.py) run for figures
(``run``): per fault kind, operations, failures, violations, the failover window and the
ping between two long-lived containers; a no-fault round under the same churn is the
baseline the others are read against."""

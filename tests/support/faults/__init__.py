"""The fault suite's parts (tests/multihost/test_faults.py): churn from every host
(churn), the faults (injectors), the cross-host ping (ping), what must hold afterwards
(invariants), and reading the Raft central (central)."""

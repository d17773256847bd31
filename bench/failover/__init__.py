"""The failover window of a three-member Raft central (``run``)."""

"""A write's identity: how a transaction that is re-run after a lost answer knows its
own rows.

When the connection drops with a transaction in flight (a Raft leader change, a member
killed, a network blip), python-ovs reports "try again" and ovsdbapp runs the commands
again on the refreshed cache. If the server had committed the first run, the cache now
holds its rows, and a plain re-run would answer "exists already" for what this very
request made, or make a second copy. So every create carries a token of its own under
``WRITE_ID``; a re-run (or the caller, after an error) that finds a row with its own
token knows the first run landed, writes nothing and answers success.
"""

from __future__ import annotations

import uuid

WRITE_ID = "dockovn:write-id"


def new_token() -> str:
    return uuid.uuid4().hex[:16]


def written_by(external_ids, token: str) -> bool:
    """Whether a row's external_ids (a dict, or python-ovs's converted map) carry ``token``."""
    return external_ids.get(WRITE_ID) == token

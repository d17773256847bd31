"""Network alias values: who added the alias and when (for `dockovn gc`'s age rule)."""

from dockovn.network import external_ids


def test_alias_value_round_trips_host_and_time():
    value = external_ids.alias_value("3f2a-chassis", 1796226000.7)
    assert external_ids.alias_host(value) == "3f2a-chassis"
    assert external_ids.alias_created_at(value) == "1796226000"


def test_alias_written_before_times_were_kept_reads_as_old():
    # Earlier versions stored the host alone: such an alias counts as long made.
    assert external_ids.alias_host("h2") == "h2"
    assert external_ids.alias_created_at("h2") == "0"

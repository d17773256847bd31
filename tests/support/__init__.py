"""Shared test helpers: real daemons, a raw plugin client, polling."""

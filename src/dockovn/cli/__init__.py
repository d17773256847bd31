"""The `dockovn` command."""

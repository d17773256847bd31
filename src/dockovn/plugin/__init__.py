"""libnetwork remote-driver protocol glue: HTTP routes, JSON in and out."""

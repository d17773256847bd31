"""`dockovn ui`: the cluster on a live web page.

- ``state``: what the page shows, read from OVN (the topology `dockovn topology` draws,
  each Raft member's role, doctor's findings, policies and services) into one JSON-able
  dict; a watcher re-reads it and tells the page when it changed.
- ``server``: the aiohttp app: the page, its updates as server-sent events (no reload,
  no page framework), and ``trace`` between two containers.
- ``static/``: the page itself (HTML, CSS and a small script).
"""

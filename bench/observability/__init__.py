"""What watching the cluster costs the request path (`make bench-observability`)."""

"""The operator's view (docs/operations.md): Prometheus metrics, readiness and the workers'
heartbeats, structured logs with request ids."""

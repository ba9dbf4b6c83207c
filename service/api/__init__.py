"""The HTTP API: FastAPI routers of every domain, their dependencies (authentication, strict JSON
bodies, sessions) and the OpenAPI completion. It sits above the domains and below the app."""

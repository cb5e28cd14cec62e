"""REST API of the endpoint app (staff session or API token; docs/endpoint-pool.md and
docs/upstream-servers.md), one module per domain; views stay thin and call the
services, selectors and pool requests."""

"""Admin of the endpoint app, one module per domain. Saves go through the services, so
every edit reaches the running pool; secrets are never sent to the browser."""

from . import custom_tool, endpoint, mcp_server  # noqa: F401 - importing registers the ModelAdmins

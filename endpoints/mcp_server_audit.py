"""How an MCP server's fields appear in the audit log (xiaozhi_hub/access/audit.py): its
secrets masked as on every other surface. Used by the REST views and the admin."""

from __future__ import annotations

from endpoints.mcp_server_secrets import mask_mapping, mask_upstream_url
from xiaozhi_hub.masking import mask_text

SERVER_AUDIT_MASKS = {
    "url": lambda url: mask_upstream_url(url) if url else url,
    "headers": mask_mapping,
    "env": mask_mapping,
    "replica_urls": lambda urls: [mask_upstream_url(url) for url in urls or []],
    "args": lambda args: [mask_text(arg) for arg in args or []],
}

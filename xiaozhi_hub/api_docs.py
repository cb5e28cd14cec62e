"""GET /api/schema/ (the OpenAPI 3 schema) and /api/docs/ (Swagger UI over it).

Any staff account may read both: they describe the API, they hold no data, and
every operation still checks its own permissions. Swagger UI's files come from
drf-spectacular-sidecar (served by the hub: no CDN), and its set-up script is a
separate request (SpectacularSwaggerSplitView), so the page runs under the
Content-Security-Policy with no inline script or style.
"""

from __future__ import annotations

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from .access.permissions import HubPermissions

# Staff status only (HubPermissions checks it), no model permission.
_ANY_STAFF = {"GET": ()}


class ApiSchemaView(SpectacularAPIView):
    permission_classes = [HubPermissions]
    permissions_required = _ANY_STAFF


class ApiDocsView(SpectacularSwaggerSplitView):
    permission_classes = [HubPermissions]
    permissions_required = _ANY_STAFF
    url_name = "api-schema"
    # drf-spectacular's page less its inline <style> (a stylesheet instead).
    template_name = "api/swagger_ui.html"

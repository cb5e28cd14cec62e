from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .health import health_report


class HealthView(APIView):
    """GET /api/health: open to load balancers and probes; secrets are masked."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        body, healthy = health_report()
        return Response(body, status=200 if healthy else 503)

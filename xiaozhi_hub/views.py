from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .api_schema import Health
from .health import health_report


class HealthView(APIView):
    """GET /api/health: open to load balancers and probes; secrets are masked."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["hub"],
        summary="Health of the hub and its services",
        responses={200: Health, 503: Health},
    )
    def get(self, request):
        body, healthy = health_report()
        return Response(body, status=200 if healthy else 503)


@csrf_exempt  # refuses everything: no state to protect, and a 403 would hide the 404
def api_not_found(request, unknown: str = ""):
    """Any /api/... path no route matches: DRF's JSON 404, not Django's HTML page."""
    return JsonResponse({"detail": "Not found."}, status=404)

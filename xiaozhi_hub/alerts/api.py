"""REST: GET /api/alerts, POST /api/alerts/<id>/acknowledge, POST /api/alerts/<id>/silence."""

from __future__ import annotations

from django.utils import timezone
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from xiaozhi_hub.access import audit
from xiaozhi_hub.pagination import HubCursorPagination, paginated_response

from . import api_schema as schema
from . import services
from .models import Alert
from .selectors import STATES, alert_payload, alert_queryset

_VIEW = "alerts.view_alert"
_CHANGE = "alerts.change_alert"  # acknowledge, silence (operators)


class AlertPagination(HubCursorPagination):
    ordering = ("-fired_at", "-id")


class AlertListView(APIView):
    """?state=firing|resolved (default both); cursor pages, newest first."""

    permissions_required = {"GET": (_VIEW,)}
    pagination_class = AlertPagination

    @schema.alert_list
    def get(self, request):
        state = request.query_params.get("state") or None
        if state is not None and state not in STATES:
            raise ValidationError({"state": [f"must be one of {', '.join(STATES)}"]})
        now = timezone.now()
        return paginated_response(
            self, alert_queryset(state=state), lambda alert: alert_payload(alert, now=now)
        )


def _perform(request, alert_id: int, action, done: str, **arguments) -> Response:
    try:
        alert = action(alert_id=alert_id, **arguments)
    except Alert.DoesNotExist:
        raise NotFound(f"no alert with id {alert_id}") from None
    except services.AlertActionError as exc:
        raise ValidationError({"detail": str(exc)}) from None
    audit.audit_action(
        user=request.user,
        model="alerts.alert",
        object_id=alert.pk,
        object_repr=str(alert),
        via=audit.VIA_REST,
        action=done,
    )
    return Response({"alert": alert_payload(alert)})


class AlertAcknowledgeView(APIView):
    permissions_required = {"POST": (_CHANGE,)}

    @schema.alert_acknowledge
    def post(self, request, alert_id: int):
        return _perform(
            request, alert_id, services.alert_acknowledge, "Acknowledged", user=request.user
        )


class AlertSilenceView(APIView):
    """Body {"minutes": N}: 1 to 10080 (a week); 0 lifts the silence."""

    permissions_required = {"POST": (_CHANGE,)}

    @schema.alert_silence
    def post(self, request, alert_id: int):
        serializer = schema.SilenceBody(data=request.data)
        serializer.is_valid(raise_exception=True)
        minutes = serializer.validated_data["minutes"]
        done = f"Silenced for {minutes} min" if minutes else "Silence lifted"
        return _perform(request, alert_id, services.alert_silence, done, minutes=minutes)

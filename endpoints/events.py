"""Console events of the endpoint pool, all through xiaozhi_hub.broadcast.

Payload keys are camelCase: the endpoint family shares its status object with
GET /api/status (docs/console.md lists the casing of each family).
"""

from __future__ import annotations

from typing import Any, TypedDict

from xiaozhi_hub.broadcast import HEALTH, abroadcast

ENDPOINT_HEALTH = "endpoint_health"


class EndpointHealthPayload(TypedDict):
    # The same status object as one item of GET /api/status "connections".
    endpoint: dict[str, Any]


async def send_endpoint_health(status: dict[str, Any]) -> None:
    """One endpoint's status to every console subscribed to `health`."""
    await abroadcast(HEALTH, ENDPOINT_HEALTH, EndpointHealthPayload(endpoint=status))


HEALTH_BUCKET = "health_bucket"


class HealthBucketPayload(TypedDict):
    # The minute buckets a worker just closed (endpoints/worker/history.py): each item is
    # {"endpointId" | "serverId", "start", "state", "upSeconds", ...} as in the REST history.
    resolution: str
    bucketSeconds: int
    worker: str
    endpoints: list[dict[str, Any]]
    servers: list[dict[str, Any]]


async def send_health_bucket(payload: HealthBucketPayload) -> None:
    """A worker's closed minute buckets to every console subscribed to `health`."""
    await abroadcast(HEALTH, HEALTH_BUCKET, payload)

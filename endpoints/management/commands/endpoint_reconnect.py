from django.core.management.base import BaseCommand

from endpoints import control
from endpoints.pool_requests.endpoint import endpoint_reconnect

from ._endpoint_args import resolve_endpoint


class Command(BaseCommand):
    help = "Drop and redial one endpoint now (also resumes a failed one)."

    def add_arguments(self, parser):
        parser.add_argument("endpoint", help="id or name")

    def handle(self, *args, endpoint, **options):
        target = resolve_endpoint(endpoint)
        endpoint_reconnect(endpoint_id=target.pk)
        where = "the pool workers" if control.uses_redis() else "the pool"
        self.stdout.write(f"Reconnect of {target.pk} {target.name} sent to {where}.")

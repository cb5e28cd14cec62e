import json

from django.core.management.base import BaseCommand, CommandError

from endpoints.pool_requests.tool_call import tool_call


class Command(BaseCommand):
    help = (
        "Call an aggregated tool through the running pool, as an endpoint would. Prints "
        "the result; exits non-zero on a JSON-RPC error, a result with isError, or no pool."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="exposed name (server__tool)")
        # dest: Django keeps an option named "args" for positional arguments.
        parser.add_argument(
            "--args", dest="arguments_json", default="{}", help="arguments as a JSON object"
        )
        parser.add_argument("--timeout", type=float, help="seconds to wait for the answer")

    def handle(self, *args, name, arguments_json, timeout, **options):
        try:
            arguments = json.loads(arguments_json)
        except ValueError as exc:
            raise CommandError(f"--args is not valid JSON: {exc.msg}") from None
        if not isinstance(arguments, dict):
            raise CommandError("--args must be a JSON object")
        reply = tool_call(name=name, arguments=arguments, timeout=timeout)
        if reply.get("poolRunning") is False:
            raise CommandError(reply["error"]["message"])
        took = reply.get("durationMs")
        footer = f"({reply.get('worker')}, {took:.1f} ms)" if took is not None else ""
        if "error" in reply:
            error = reply["error"]
            self.stdout.write(json.dumps(error, ensure_ascii=False, indent=2))
            raise CommandError(f"JSON-RPC error {error.get('code')}: {error.get('message')}")
        result = reply.get("result") or {}
        self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))
        self.stderr.write(footer)
        if result.get("isError"):
            raise CommandError("the tool answered with isError: true")

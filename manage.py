#!/usr/bin/env python
"""Django's command-line utility for xiaozhi-hub."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaozhi_hub.settings")
    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise ImportError(
            "Django is not installed here: run `make run` or `make test` once, "
            "or use .venv/bin/python"
        ) from exc
    from django.core.exceptions import ImproperlyConfigured

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A bad environment variable: one clear line instead of a traceback.
        sys.exit(f"configuration error: {exc}")


if __name__ == "__main__":
    main()

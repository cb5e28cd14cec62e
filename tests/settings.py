"""Test settings: the production settings module, pointed at the test services.

On a machine with MariaDB and Redis on loopback the suite runs on them (as in
CI); without them it falls back to SQLite and the in-memory layer, and tests
marked requires_services skip (or fail, with HUB_REQUIRE_SERVICES=1).
"""

import os
import tempfile

from tests.services import MYSQL_URL, REDIS_URL, service_available

# The developer's own deployment variables never leak into the tests.
for _name in ("DATABASE_URL", "REDIS_URL", "ESP32_DATABASE_URL", "SECRET_KEY_FILE", "DEBUG"):
    os.environ.pop(_name, None)
os.environ["SECRET_KEY"] = "tests-only-secret-key"
os.environ.setdefault("HUB_DATA_DIR", tempfile.mkdtemp(prefix="hub-tests-"))
os.environ["HUB_CHANNEL_PREFIX"] = f"hubtest{os.getpid()}"
# The suite (and the hubs it starts) is one busy client: throttling tests set their own rates.
os.environ["HUB_API_THROTTLE_USER"] = "100000/min"
os.environ["HUB_API_THROTTLE_ANON"] = "100000/min"
for _name in (
    "HUB_HTTPS", "HUB_SSL_REDIRECT", "HUB_HSTS_SECONDS", "HUB_PROXY_COUNT",
    "HUB_ENCRYPTION_KEY", "HUB_ENCRYPTION_KEY_FILE",
):  # fmt: skip
    os.environ.pop(_name, None)
if service_available("mysql"):
    os.environ["DATABASE_URL"] = MYSQL_URL
if service_available("redis"):
    os.environ["REDIS_URL"] = REDIS_URL

from xiaozhi_hub.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
# Many pool tests list and call hub__status / hub__echo (off by default in production).
HUB_BUILTIN_TOOLS = True

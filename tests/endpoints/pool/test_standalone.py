import subprocess
import sys

from tests.services import REPO


def test_the_pool_and_the_upstreams_import_without_django():
    code = (
        "import sys, endpoints.pool, endpoints.pool.pool, tests.endpoints.peers, "
        "endpoints.upstreams.manager, tests.endpoints.upstream_servers; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'celery')); "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr

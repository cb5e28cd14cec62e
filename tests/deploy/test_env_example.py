""".env.example: exactly the variables the compose files read, each one explained.

Required ones (`${NAME:?...}` in docker-compose.yml) are uncommented and empty, so
a copied template that was not filled in makes Docker Compose refuse to start,
naming the variable. Every optional one is commented out with its real default:
uncommenting it changes nothing.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.services import REPO

from .compose import BASE, BOTH, ENV_EXAMPLE, ESP32, FILLED, compose_config

LINE = re.compile(r"^(?P<comment># )?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$", re.M)
USED = re.compile(r"\$\{(?P<name>[A-Z][A-Z0-9_]*)(?P<operator>:?[-?])?")


def template() -> list[re.Match]:
    return list(LINE.finditer(ENV_EXAMPLE.read_text()))


def used_by(*paths) -> dict[str, set[str]]:
    """Variable -> the operators it is read with (`:-` default, `:?` required)."""
    used: dict[str, set[str]] = {}
    for path in paths:
        for match in USED.finditer(path.read_text()):
            used.setdefault(match["name"], set()).add(match["operator"] or "")
    return used


def readme_order() -> list[str]:
    """The variables of the README's "Configuration" table, in its order."""
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n### ", 1)[0]
    names = []
    for row in table.splitlines():
        if row.startswith("| `"):
            names += re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1])
    return names


def test_it_lists_exactly_the_variables_the_compose_files_read():
    listed = [match["name"] for match in template()]
    assert len(listed) == len(set(listed)), listed
    assert set(listed) == set(used_by(BASE, ESP32))


def test_required_ones_are_empty_and_uncommented_optional_ones_commented():
    required = {name for name, ops in used_by(BASE).items() if ":?" in ops}
    assert required == {"SECRET_KEY", "MYSQL_PASSWORD"}
    for match in template():
        if match["name"] in required:
            assert not match["comment"] and match["value"] == "", match[0]
        else:
            assert match["comment"], f"{match['name']} is optional: comment it out"


def test_it_follows_the_readmes_order_and_documents_the_rest():
    order = readme_order()
    listed = [match["name"] for match in template()]
    in_readme = [name for name in listed if name in order]
    assert in_readme == sorted(in_readme, key=order.index)
    deploy = (REPO / "docs" / "deploy.md").read_text()
    for name in set(listed) - set(order):
        assert f"`{name}`" in deploy, f"{name} is neither in the README's table nor in deploy.md"


def test_an_unfilled_copy_makes_compose_refuse_with_the_variables_name(tmp_path):
    result = compose_config((BASE,), ENV_EXAMPLE, tmp_path)
    assert result.returncode != 0
    # Compose names the first missing one it meets, in no fixed order.
    assert re.search(
        r"required variable (SECRET_KEY|MYSQL_PASSWORD) is missing a value: "
        r"set \1 in \.env \(see \.env\.example\)",
        result.stderr,
    ), result.stderr


def test_the_override_refuses_to_start_without_the_source_database(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in FILLED.items()))
    assert compose_config((BASE,), env_file, tmp_path).returncode == 0

    result = compose_config(BOTH, env_file, tmp_path)
    assert result.returncode != 0
    assert "required variable ESP32_DATABASE_URL is missing a value" in result.stderr
    assert "read-only user (docs/deploy.md)" in result.stderr


def filled_template(uncomment: str | None = None) -> str:
    text = ENV_EXAMPLE.read_text()
    for name, value in FILLED.items():
        text = text.replace(f"\n{name}=\n", f"\n{name}={value}\n")
    if uncomment:
        text = text.replace(f"\n# {uncomment}=", f"\n{uncomment}=")
    return text


@pytest.mark.parametrize(
    "name", [m["name"] for m in template() if m["comment"]], ids=lambda name: name
)
def test_each_commented_value_is_the_real_default(name, tmp_path):
    def model(text: str) -> dict:
        env_file = tmp_path / ".env"
        env_file.write_text(text)
        files = BOTH if name == "ESP32_NETWORK" else (BASE,)
        extra = {"ESP32_DATABASE_URL": "mysql://r:pw@db:3306/s"} if name == "ESP32_NETWORK" else {}
        result = compose_config(files, env_file, tmp_path, **extra)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert model(filled_template(uncomment=name)) == model(filled_template())


def test_filled_in_it_configures_the_hub(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(filled_template())
    result = compose_config((BASE,), env_file, tmp_path)
    assert result.returncode == 0, result.stderr
    environment = json.loads(result.stdout)["services"]["web"]["environment"]
    assert environment["SECRET_KEY"] == FILLED["SECRET_KEY"]
    assert environment["DATABASE_URL"] == "mysql://hub:hubpw@mysql:3306/hub"
    assert environment["ALLOWED_HOSTS"] == "localhost,127.0.0.1"
    assert environment["ESP32_DATABASE_URL"] == environment["HUB_REPORT_SECRET"] == ""

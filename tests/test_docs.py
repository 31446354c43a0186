"""Documentation follows the code: a setting, command or endpoint nobody documented fails here."""

from __future__ import annotations

import argparse
from pathlib import Path

from bayanihan.cli import build_parser
from bayanihan.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _commands(parser: argparse.ArgumentParser, prefix: str = "bayanihan") -> list[str]:
    found: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = _commands(sub, f"{prefix} {name}")
                found.extend(nested or [f"{prefix} {name}"])
    return found


def test_every_command_is_in_the_readme() -> None:
    commands = _commands(build_parser())
    assert "bayanihan org add" in commands
    missing = [c for c in commands if f"`{c}" not in README]
    assert not missing, f"undocumented commands: {missing}"


def test_every_option_of_every_command_is_in_the_readme() -> None:
    parser = build_parser()
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                subs = [sub]
                for inner in sub._actions:
                    if isinstance(inner, argparse._SubParsersAction):
                        subs = list(inner.choices.values())
                for command in subs:
                    for option in command._actions:
                        for flag in option.option_strings:
                            if flag.startswith("--") and flag != "--help" and flag not in README:
                                missing.append(f"{name} {flag}")
    assert not missing, f"undocumented options: {missing}"


def test_every_setting_is_in_the_readme() -> None:
    for name in Settings.model_fields:
        assert f"`{name}`" in README, name
        assert f"BAYANIHAN_{name.upper()}" in README, name


def test_every_taxii_route_is_in_the_taxii_doc() -> None:
    from bayanihan.node import Node
    from bayanihan.taxii.service import TaxiiService
    from bayanihan.web.taxii_routes import taxii_routes

    doc = (ROOT / "docs" / "taxii.md").read_text()
    node = Node(Settings(db="sqlite:///:memory:"))
    for route in taxii_routes(TaxiiService(node)):
        path = route.path.replace("{root}", "api").replace("{collection}", "{id}")
        path = path.replace("{object}", "{object-id}").replace("{status}", "{id}")
        assert path.rstrip("/") in doc, route.path


def test_docs_linked_from_the_readme_exist() -> None:
    for name in (
        "taxii",
        "security",
        "deploying-postgresql",
        "federation",
        "correlation",
        "extensions",
        "benchmarks",
    ):
        assert f"docs/{name}.md" in README
        assert (ROOT / "docs" / f"{name}.md").exists(), name


def test_extension_ids_are_documented() -> None:
    from bayanihan.stix import extensions

    doc = (ROOT / "docs" / "extensions.md").read_text()
    for name in dir(extensions):
        value = getattr(extensions, name)
        if isinstance(value, str) and value.startswith(("extension-definition--", "identity--")):
            assert value in doc, name

"""The documented JSON schemas (orps_tui/schemas) hold for the documents orps prints."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from orps_tui.cli import main
from orps_tui.schema import DOCUMENTS, SCHEMA_VERSION, load_schema, validate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_MODEL = ROOT / "docs" / "example_model.py"


@pytest.mark.parametrize("name", DOCUMENTS)
def test_schemas_are_valid_json_schema_with_a_version(name):
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert "schema_version" in schema["required"]


def test_a_document_missing_a_promised_field_is_rejected():
    doc = {
        "schema_version": SCHEMA_VERSION,
        "runs": [
            {
                "id": "x",
                "status": "finished",
                "result": "solved",
                "target": "a.py::f",
                "strategy": "orps",
                "model": "m",
                "pass_rate": 1.0,
                "calls": 2,
                "cost_usd": 0.0,
            }
        ],
    }
    validate("runs", doc)
    del doc["runs"][0]["pass_rate"]
    with pytest.raises(jsonschema.ValidationError):
        validate("runs", doc)


@pytest.mark.slow
def test_demo_and_runs_documents_match_their_schemas(tmp_path, capsys):
    project = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--dir",
            str(project),
            "--json",
            "--quiet",
            "--model",
            f"scripted/{EXAMPLE_MODEL}",
            "--samples",
            "2",
            "--rounds",
            "1",
            "--no-cache",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    validate("solve", doc)
    assert doc["best"]["node_id"] == doc["best"]["id"] and 0 <= doc["best"]["pass_rate"] <= 1
    assert doc["model"].startswith("scripted/") and doc["strategy"] == "orps"
    assert doc["llm"]["calls"] == doc["usage"]["calls"] >= 1
    assert main(["runs", "--json", "--project", str(project)]) == 0
    runs = json.loads(capsys.readouterr().out)
    validate("runs", runs)
    assert runs["runs"][0]["id"] == doc["run_id"]


def test_the_schemas_and_type_markers_ship_inside_the_packages():
    """A wheel holds only the packages and their declared data: the schemas orps validates
    against must live in the package and match a package-data pattern, or an installed orps
    cannot read them."""
    import fnmatch

    import tomllib

    import orps_tui.schema

    package = Path(orps_tui.schema.__file__).resolve().parent
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = data["*"] + data["orps_tui"]
    for name in DOCUMENTS:
        relative = (orps_tui.schema.SCHEMA_DIR / f"{name}.json").relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
    for top in ("orps_tui", "search", "runners"):
        assert (ROOT / top / "py.typed").is_file() and "py.typed" in data["*"]

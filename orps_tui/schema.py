"""The JSON documents orps prints (`--json`) and writes: their schema version and validation.

The schemas are in orps_tui/schemas/<name>.json (inside the package, so a wheel has them; JSON
Schema 2020-12), one per document: solve (also `demo`'s document), check, runs, bench and
review. Every document carries
`schema_version`; a field is only ever added, never renamed or removed, without raising it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
DOCUMENTS = ("solve", "check", "runs", "bench", "review")


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text())


def validate(name: str, doc: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when `doc` does not match the `name` schema."""
    import jsonschema

    jsonschema.validate(doc, load_schema(name), cls=jsonschema.Draft202012Validator)

"""The README's feature-schema table is the one the code generates."""

from __future__ import annotations

import re
from pathlib import Path

from matching.features import SCHEMA

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_schema_table_matches_the_code():
    match = re.search(
        r"<!-- schema-table:start -->\n(.*?)\n<!-- schema-table:end -->", README.read_text(), re.S
    )
    assert match, "README.md lost its schema-table markers"
    assert match.group(1).strip() == SCHEMA.schema_table_markdown().strip(), (
        "README.md's schema table is stale: paste the output of `manage.py compute_features --schema-table`"
    )

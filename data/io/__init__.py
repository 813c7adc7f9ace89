"""Import and export of service logs, contacts and survey results (issue 3).

``import_file`` reads CSV/XLSX through a mapping (``data/mappings/``) and upserts in one transaction;
``export_table`` writes the canonical format; ``export_all``/``import_all`` move a whole site.
"""

from __future__ import annotations

from data.io.errors import FileError
from data.io.exporter import export_all, export_table, import_all, neutralise
from data.io.importer import ImportResult, choose_mapping, import_file
from data.io.mapping import load as load_mapping
from data.io.mapping import shipped as shipped_mappings

__all__ = [
    "FileError", "ImportResult", "choose_mapping", "export_all", "export_table", "import_all", "import_file",
    "load_mapping", "neutralise", "shipped_mappings",
]

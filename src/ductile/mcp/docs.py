"""The `docs/*.md` pages offered as MCP resources (`ductile://docs/<FILE>.md`).

The pages are read from a checkout, not shipped as package data: they are written for the
repository (relative links, images) and a wheel copy would go stale silently. The directory is
`--docs-dir`, else `$DUCTILE_DOCS_DIR`, else the `docs/` next to this source tree (a source or
editable install). With none of them there are no resources, and the server says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SCHEME = "ductile://docs/"


@dataclass(frozen=True)
class DocPage:
    name: str  # file name, e.g. AGENTS.md
    path: Path
    title: str
    size: int

    @property
    def uri(self) -> str:
        return SCHEME + self.name


def docs_dir(option: str | None = None) -> Path | None:
    """Where the pages are, or None when no candidate directory exists."""
    for candidate in (option, os.environ.get("DUCTILE_DOCS_DIR")):
        if candidate:
            return Path(candidate) if Path(candidate).is_dir() else None
    checkout = Path(__file__).resolve().parents[3] / "docs"
    return checkout if checkout.is_dir() else None


def _title(path: Path) -> str:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("# "):
                return line[2:].strip()
    return path.stem


def doc_pages(directory: Path | None) -> list[DocPage]:
    """Markdown files directly in `directory`, by name (no subdirectories, no symlinks out)."""
    if directory is None:
        return []
    pages = []
    for path in sorted(directory.glob("*.md")):
        if path.is_file() and path.resolve().parent == directory.resolve():
            pages.append(DocPage(path.name, path, _title(path), path.stat().st_size))
    return pages


def read_page(pages: list[DocPage], uri: str) -> str | None:
    """The page's text when `uri` is one of `pages` (never a path built from the URI)."""
    for page in pages:
        if page.uri == uri:
            return page.path.read_text(encoding="utf-8", errors="replace")
    return None

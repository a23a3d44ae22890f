"""MkDocs hook: Markdown files kept outside ``docs/``, published as site pages.

The top-level README, SECURITY.md and CHANGELOG.md are where readers of the repository
look for them; ``deploy/README.md`` sits next to the deployment files and
``tests/lab/README.md`` next to the lab, where a maintainer changing those files sees them.
The site shows the same text (one copy, no drift). Their relative links are resolved from
their place in the repository: a link into ``docs/`` becomes a link to that page, a link to
another file published here becomes a link to its page, and anything else is left as it
is, so the strict build reports it as a broken link.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File
from mkdocs.structure.files import Files

#: Site page -> the repository file it is made from.
PAGES = {
    "index.md": "README.md",
    "reporting.md": "SECURITY.md",
    "changelog.md": "CHANGELOG.md",
    "deployment.md": "deploy/README.md",
    "lab.md": "tests/lab/README.md",
}
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:|^#|^/", re.IGNORECASE)


def _root(config: Any) -> Path:
    return Path(config["config_file_path"]).resolve().parent


def rewrite_links(markdown: str, source: str) -> str:
    """Point the relative links of ``source`` (a repository path) at site pages."""
    by_source = {repo: page for page, repo in PAGES.items()}

    def fix(match: re.Match[str]) -> str:
        target = match.group(1)
        if _EXTERNAL.match(target):
            return match.group(0)
        path, hash_, anchor = target.partition("#")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        if resolved.startswith("docs/"):
            page = resolved.removeprefix("docs/")
        elif resolved in by_source:
            page = by_source[resolved]
        else:
            return match.group(0)
        return f"]({page}{hash_}{anchor})"

    return _LINK.sub(fix, markdown)


def on_files(files: Files, config: Any) -> Files:
    root = _root(config)
    for page, source in PAGES.items():
        text = (root / source).read_text(encoding="utf-8")
        files.append(File.generated(config, page, content=rewrite_links(text, source)))
    return files


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    root = _root(config)
    for source in PAGES.values():
        server.watch(str(root / source))
    return server

"""The documentation's links: every relative link and image in the README, data/README.md, docs/*.md and the
notebooks' text cells points to a file of the repository (a screenshot renamed or never drawn shows as a broken
image on GitHub and in the notebook)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: ``[text](target)`` and ``![alt](target)``, with an optional title.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
PAGES = [ROOT / "README.md", ROOT / "data" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def local_targets(markdown: str) -> list[str]:
    """The relative targets of the links outside code (fenced blocks and inline spans), fragments dropped."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = (target for target in LINK.findall(text) if not re.match(r"[a-z]+:|#", target))
    return [target.split("#")[0] for target in targets]


def test_the_link_pattern_finds_links_and_images_but_not_code_or_urls():
    markdown = '[a](docs/a.md#x) ![b](b.png "B") [c](https://x.org) [d](#top) `[e](e.md)`\n```\n[f](f.md)\n```'
    assert local_targets(markdown) == ["docs/a.md", "b.png"]


@pytest.mark.parametrize("page", PAGES + NOTEBOOKS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_a_file(page):
    if page.suffix == ".ipynb":
        cells = json.loads(page.read_text(encoding="utf-8"))["cells"]
        markdown = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
    else:
        markdown = page.read_text(encoding="utf-8")
    missing = [target for target in local_targets(markdown) if not (page.parent / target).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to files that do not exist: {missing}"

"""The documentation stays true: every relative link and image in the README, data/README.md, docs/*.md and the
notebooks' text cells points to a file of the repository (a screenshot renamed or never drawn shows as a broken
image on GitHub and in the notebook), and every ``make`` target and ``python -m analysis`` command they name
exists."""

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


def test_every_make_target_and_command_the_docs_name_exists():
    from analysis.cli import build_parser

    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    targets = set(re.findall(r"^([A-Za-z0-9_-]+):", (ROOT / "Makefile").read_text(encoding="utf-8"), flags=re.M))
    named = set(re.findall(r"(?:`|^\s*)make ([a-z][a-z-]*)", text, flags=re.M))  # in code, not "make it"
    assert {"app", "test"} <= named and not named - targets, f"not in the Makefile: {sorted(named - targets)}"
    used = {name for group in re.findall(r"python -m analysis ([a-z|-]+)", text) for name in group.split("|")}
    assert {"check", "gaps"} <= used
    for name in sorted(used):  # an unknown command exits 2, a known one's --help 0
        with pytest.raises(SystemExit) as done:
            build_parser().parse_args([name, "--help"])
        assert done.value.code == 0, f"the docs name `python -m analysis {name}`, which does not exist"

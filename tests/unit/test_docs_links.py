"""The documentation holds together: every relative link in README.md, docs/*.md and
bench/README.md points at a file that exists, every anchor at a heading of that file
(GitHub's slugs), and README.md stays short and keeps the test command .ci/run reads."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_README_LINES = 200


def doc_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]


FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
INLINE_LINK = re.compile(
    r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^\s)>]*)>?(?:\s+\"[^\"]*\")?\s*\)"
)
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
SKIPPED_SCHEMES = ("http://", "https://", "mailto:")


def without_code(text: str) -> str:
    """The text with fenced blocks blanked and code spans reduced to their content's length
    of placeholder characters, line breaks kept, so that line numbers stay right."""
    lines, fence = [], None
    for line in text.split("\n"):
        match = FENCE.match(line)
        if fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            lines.append("")
        elif match:
            fence = match.group(1)
            lines.append("")
        else:
            lines.append(line)
    return CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", "x", m.group(0)), "\n".join(lines))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lowercase, punctuation other than
    hyphens and spaces removed, spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a markdown file's headings (and explicit HTML anchors) produce; a repeated
    heading gets -1, -2, ... as on GitHub."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    fence = None
    for line in path.read_text(encoding="utf-8").split("\n"):
        match = FENCE.match(line)
        if fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            continue
        if match:
            fence = match.group(1)
            continue
        heading = HEADING.match(line)
        if heading:
            base = slug(heading.group(2))
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        found.update(HTML_ANCHOR.findall(line))
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every inline link, image and reference definition outside code."""
    text = without_code(path.read_text(encoding="utf-8"))
    found = [(m.start(), m.group(2)) for m in INLINE_LINK.finditer(text)]
    found += [(m.start(), m.group(1)) for m in REFERENCE_DEF.finditer(text)]
    return sorted((text.count("\n", 0, start) + 1, target) for start, target in found)


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with path's relative links, one message per broken link."""
    problems = []
    for line, target in links(path):
        if target.lower().startswith(SKIPPED_SCHEMES):
            continue
        where = f"{path.relative_to(root)}:{line}: ({target})"
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not file_part and not anchor:
            problems.append(f"{where}: empty link")
            continue
        if not dest.is_relative_to(root.resolve()):
            problems.append(f"{where}: points outside the repository")
            continue
        if not dest.exists():
            problems.append(f"{where}: {dest.relative_to(root.resolve())} does not exist")
            continue
        if anchor and dest.suffix == ".md" and unquote(anchor) not in anchors(dest):
            problems.append(
                f"{where}: no heading in {dest.relative_to(root.resolve())} has anchor #{anchor}"
            )
    return problems


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    assert path.exists(), f"{path} is gone: update doc_files()"
    problems = broken_links(path)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines (at most {MAX_README_LINES}): move detail to docs/"
    )


def test_readme_keeps_the_test_command_block() -> None:
    """.ci/run takes the lines between the markers that do not start with a backtick
    (awk), so the markers must frame exactly one fenced bash block holding the command."""
    text = README.read_text(encoding="utf-8")
    assert text.count("<!-- test-command -->") == 1
    assert text.count("<!-- /test-command -->") == 1
    block = re.search(
        r"^<!-- test-command -->\n```bash\n((?:[^`\n][^\n]*\n)+)```\n<!-- /test-command -->$",
        text,
        re.MULTILINE,
    )
    assert block, "the test-command markers must frame a ```bash block and nothing else"
    assert block.group(1).strip()
    # What .ci/run's awk extracts: the lines between the markers not starting with a backtick.
    inside = text.split("<!-- test-command -->\n", 1)[1].split("<!-- /test-command -->", 1)[0]
    assert [line for line in inside.splitlines() if line and not line.startswith("`")] == (
        block.group(1).splitlines()
    )


# -- the checker itself --------------------------------------------------------------------


def test_slug_is_githubs() -> None:
    assert (
        slug("Quick start (fresh machine, Python 3.11+)") == "quick-start-fresh-machine-python-311"
    )
    assert slug("Backfill horizon: `since`") == "backfill-horizon-since"
    assert slug("jobs.yaml reference") == "jobsyaml-reference"
    assert slug("Build IDs (snowflakes)") == "build-ids-snowflakes"
    assert slug("prowjob.json") == "prowjobjson"
    assert slug("Start-up and first request (`small`)") == "start-up-and-first-request-small"


def test_checker_finds_broken_links(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## A section\n\n## A section\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n\n"
        "[fine](other.md) [fine](other.md#a-section) [fine](other.md#a-section-1)\n"
        "[fine](#page) [fine](https://example.com/x#y) [fine](mailto:a@b.c)\n"
        "`[not a link](missing.md)`\n\n"
        "```\n[not a link](missing.md)\n```\n"
        "[missing file](missing.md)\n"
        "[missing anchor](other.md#nowhere)\n"
        "[missing own anchor](#nowhere)\n"
        "[outside](../../x.md)\n"
        "[split\ntext](missing2.md)\n"
    )
    problems = broken_links(page, root=tmp_path)
    assert [p.split(": ")[0] for p in problems] == [
        "docs/page.md:10",
        "docs/page.md:11",
        "docs/page.md:12",
        "docs/page.md:13",
        "docs/page.md:14",
    ]
    assert "does not exist" in problems[0]
    assert "#nowhere" in problems[1]
    assert "#nowhere" in problems[2]
    assert "outside" in problems[3]
    assert "missing2.md does not exist" in problems[4]

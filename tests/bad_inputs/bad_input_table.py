"""The README's table of bad-input kinds and the reasons users see, from the bad-input corpus.

    python tests/bad_inputs/bad_input_table.py     # prints the Markdown table

The README holds its output between the markers below; ``test_bad_input_corpus.py`` checks that
the two are equal, so the table never drifts from what the readers do.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

# Run as a script: tests/ and its sub-folders on the path, as tests/conftest.py puts them.
_TESTS_DIR = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(_TESTS_DIR), *sorted(str(p) for p in _TESTS_DIR.rglob("*") if p.is_dir())]

from bad_input_corpus import all_kinds, write_bad_input_corpus  # noqa: E402
from bad_input_kinds import BadCorpus  # noqa: E402

BEGIN = "<!-- bad-input table: python tests/bad_inputs/bad_input_table.py -->"
END = "<!-- end of bad-input table -->"


def markdown_table(corpora: list[BadCorpus]) -> str:
    """One row per kind: format, kind, stage, error type, what the message says."""
    lines = [
        "| format | bad input | stage | error type | the message says |",
        "|---|---|---|---|---|",
    ]
    for kind in all_kinds(corpora):
        name, words = (text.replace("|", "\\|") for text in (kind.name, kind.words))
        lines.append(f"| {kind.format} | {name} | {kind.stage} | `{kind.error_type}` | {words} |")
    for corpus in corpora:
        for name in corpus.accepted_kinds:
            lines.append(f"| {corpus.format} | {name} | - | accepted | (written) |")
    return "\n".join(lines)


def readme_table(readme_text: str) -> str:
    """The table between the README's markers ('' when the markers are missing)."""
    if BEGIN not in readme_text or END not in readme_text:
        return ""
    return readme_text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        print(markdown_table(write_bad_input_corpus(Path(tmp))))

"""The README's library example runs as written and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def library_example() -> str:
    section = README.read_text().split("## Use it as a library", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "the README's library section has no python example"
    return found.group(1)


def test_the_readme_library_example_runs_as_written() -> None:
    # Given the example, exactly as the README shows it
    code = library_example()
    # When it runs
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    # Then each line it prints is what the comment beside its print says
    lines = printed.getvalue().splitlines()
    expected = [m.group(1) for m in re.finditer(r"print\(.*\)\s+# ([^:\n]+)", code)]
    assert len(lines) == 4
    assert lines[0].startswith("[") and len(eval(lines[0])) == 5
    assert lines[1:] == expected

"""The README's two commands are the ones CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_the_readme_opens_with_the_run_and_test_commands():
    run, test = bash_blocks((ROOT / "README.md").read_text(encoding="utf-8"))[:2]
    assert run.endswith("python scripts/install.py && python app.py")
    assert test.endswith("python scripts/install.py test && python -m pytest")


def test_ci_runs_the_readme_test_command_verbatim():
    test = bash_blocks((ROOT / "README.md").read_text(encoding="utf-8"))[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test in ci.splitlines()

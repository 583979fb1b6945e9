"""The pytest plugin as a user gets it: a fresh project that only installed the wheel.

The project has no rmtd source, only a venv with the built wheel and pytest; its one test is
the README's example (GNU tar against a tape whose third read fails with EIO).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.install.conftest import Installed, run

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    """The README's pytest example (the Python block after "A pytest plugin")."""
    text = README.read_text()
    section = text[text.index("**A pytest plugin**") :]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "the README shows the plugin's example"
    return found.group(1)


def test_a_fresh_project_tests_tar_with_the_installed_plugin(
    installed: Installed, tmp_path: Path
) -> None:
    run(installed.bin / "python", "-m", "pip", "install", "-q", "pytest")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_tape.py").write_text(readme_example())
    result = run(installed.bin / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 cwd=project)  # fmt: skip
    assert re.search(r"\b1 passed\b", result.stdout), result.stdout
    where = run(
        installed.bin / "python",
        "-c",
        "import rmtd.testing.plugin as p; print(p.__file__)",
        cwd=project,
    )
    assert where.stdout.startswith(str(installed.prefix)), where.stdout  # the wheel's copy

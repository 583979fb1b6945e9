"""The README's quick start is what CI runs, and the sample image it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, re.S)


def test_quick_start_has_exactly_two_commands() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert "images/sample.tap" in commands[0] and (ROOT / "images/sample.tap").is_file()
    assert commands[1].endswith("pytest")


def test_ci_runs_both_readme_commands() -> None:
    ci = (ROOT / ".ci/run").read_text().splitlines()
    main_job, test_command = quick_start_commands()
    assert main_job in ci and test_command in ci
    assert ci.index(main_job) < ci.index(test_command)

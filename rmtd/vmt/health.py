"""``vmt verify`` and ``vmt repair``: check an image and its side files; cut a damaged image.

The logic is in :mod:`devices.health`; this module prints its reports and picks exit codes:
0 for a clean image (or nothing to repair), 1 for damage, a torn tail, or a file that is no
tape image.
"""

from __future__ import annotations

import json
import sys

import click

from devices.health import CLEAN, NOT_AN_IMAGE, TORN, Finding, HealthReport, repair, verify
from rmtd.vmt.app import EXIT_ERROR, emit, errors_exit, image_kind, main
from rmtd.vmt.stored import refuse_stored


@main.command("verify")
@click.argument("image", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def verify_command(image: str, as_json: bool) -> None:
    """Check IMAGE's structure (a full scan) and its side files; exit 1 if anything is wrong.

    Changes nothing. A stale index is not damage: the next open rebuilds it.
    """
    with errors_exit(image):
        refuse_stored(image, "verify", "'vmt ls' reads a stored volume and reports damage")
        report = verify(image, image_kind(image))
    if as_json:
        emit(json.dumps(report.as_dict(), indent=2))
    else:
        for finding in report.findings:
            emit(_finding_line(finding))
        emit(_verdict(report))
    if not report.clean:
        sys.exit(EXIT_ERROR)


def _finding_line(finding: Finding) -> str:
    return f"{finding.subject}: {finding.level}: {finding.message}"


def _verdict(report: HealthReport) -> str:
    """The last line of ``vmt verify``: what the image is and what to do about it."""
    name = report.image
    if report.verdict == NOT_AN_IMAGE:
        return f"{name}: NOT A TAPE IMAGE: {report.problem}"
    if report.verdict == TORN:
        return (
            f"{name}: TORN TAIL at offset {report.offset} (a write cut short, after "
            f"{report.where}): vmt repair, or the next open for writing, cuts it"
        )
    if report.verdict != CLEAN:
        return (
            f"{name}: DAMAGED at offset {report.offset}: readable data ends after "
            f"{report.where}; vmt repair cuts the rest, keeping a backup"
        )
    summary = f"{report.files} tape files, {report.records} records"
    if any(f.level == "unfinished" for f in report.findings):
        return f"{name}: UNFINISHED: image whole ({summary}), but its writer died (see above)"
    if not report.clean:
        return f"{name}: image whole ({summary}), but a side file is damaged (see above)"
    return f"{name}: OK: {summary}"


@main.command("repair")
@click.argument("image", type=click.Path())
def repair_command(image: str) -> None:
    """Cut a damaged or torn IMAGE after its last whole object, keeping a backup first.

    The whole image is copied to IMAGE.bak (or IMAGE.bak.N; never over a file) before it is
    cut, and the index beside it is removed. A clean image is left alone.
    """
    with errors_exit(image):
        refuse_stored(image, "repair", "'vmt convert' copies what a stored volume holds")
        report = repair(image, image_kind(image))
    if not report.repaired:
        emit(f"{image}: nothing to repair")
        return
    emit(
        f"{image}: cut at offset {report.offset}: dropped {report.dropped} bytes after "
        f"{report.where}; backup in {report.backup}"
    )

"""``vmt gc s3://bucket/prefix``: remove the chunks no manifest names any more.

The rules are :mod:`devices.stored.admin`'s: a chunk goes only when its volume's current
manifest does not name it, it is older than ``--grace``, and the volume is not in use (its
lease is taken for the time of the removal). This module prints what went and picks the exit
status: 0, also when volumes in use were left alone; 1 when a volume's manifest cannot be read
(its chunks are all kept), the store refused a request, or it cannot be listed.
"""

from __future__ import annotations

import sys

import click

from devices.stored.admin import DEFAULT_GRACE_SECONDS, VolumeReport, collect, volumes_under
from rmtd.vmt.app import EXIT_ERROR, emit, errors_exit, main
from rmtd.vmt.stored import address_of, store_of, store_options


@main.command("gc")
@click.argument("url", metavar="s3://BUCKET/PREFIX")
@click.option(
    "--grace",
    type=click.FloatRange(0),
    default=DEFAULT_GRACE_SECONDS,
    show_default=True,
    metavar="SECONDS",
    help="Keep unnamed chunks younger than this (a writer uploads before it commits).",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@store_options
def gc_command(url: str, grace: float, dry_run: bool) -> None:
    """Remove the chunks of the volumes under s3://BUCKET/PREFIX that no manifest names.

    A chunk goes when its volume's manifest does not name it, it is older than --grace, and
    the volume is not in use (a live lease: the volume is left alone, and said so). Chunks of
    a volume that has no manifest (a first write that never committed) go under the same
    rules. Prints each chunk removed and a total line; a chunk a manifest names is never
    removed.
    """
    with errors_exit(url):
        address, _ = address_of(url, volume_in_url=False)
        store = store_of(address)
        volumes = volumes_under(store.objects, address.prefix)  # a missing bucket fails here
        if not dry_run:
            store.verify()  # the lease keeps openers out only where compare-and-swap works
        reports = collect(store.objects, address.prefix, grace, dry_run, volumes=volumes)
    verb = "would remove" if dry_run else "removed"
    for report in reports:
        _print_volume(url, address.bucket, report, verb)
    count = sum(len(r.removed) for r in reports)
    total = sum(r.bytes for r in reports)
    emit(f"{url}: {verb} {count} chunks, {total} bytes, in {len(reports)} volumes")
    if any(r.failed for r in reports):
        sys.exit(EXIT_ERROR)


def _print_volume(url: str, bucket: str, report: VolumeReport, verb: str) -> None:
    name = f"{url.rstrip('/')}/{report.name}" if report.name else url
    if report.skipped is not None:
        click.echo(f"vmt: {name}: {report.skipped}", err=True)
    for removal in report.removed:
        emit(f"{verb} s3://{bucket}/{removal.key} ({removal.size} bytes)")

"""The atheris harness's seeds and runner (bench/fuzz/images.py) work without atheris."""

from __future__ import annotations

from pathlib import Path

from bench.fuzz.images import MAX_LEN, Runner, seed_images, structural_mutation


def test_every_seed_passes_every_reader(tmp_path: Path) -> None:
    seeds = seed_images()
    assert len(seeds) >= 10
    assert any(len(s) > 65536 for s in seeds)  # a 64 KiB record is among them
    runner = Runner(tmp_path)
    for seed in seeds:
        assert len(seed) <= MAX_LEN
        runner(seed)
    assert runner.executions == len(seeds)


def test_structural_mutations_change_the_seeds(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    seed = seed_images()[2]
    mutated = [structural_mutation(seed, rng) for _ in range(20)]
    assert sum(m != seed for m in mutated) >= 15
    runner = Runner(tmp_path)
    for data in mutated:
        runner(data)


def test_the_state_target_runs_its_seeds_and_mutations(tmp_path: Path) -> None:
    import json
    import random

    from bench.fuzz.images import StateTarget

    target = StateTarget(tmp_path)
    seeds = target.seeds()
    positions = [json.loads(s)["drive"]["position"] for s in seeds]
    assert positions == [0, 2, 4, 8, 0]  # the states the drive saved mean something
    rng = random.Random(3)
    for seed in seeds:
        target(seed)
        target(target.mutation(seed, rng))
    assert target.executions == 2 * len(seeds)

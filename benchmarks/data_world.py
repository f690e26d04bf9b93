"""World generation speed: units per second for the pretraining stream, against one regex pass over the same text.

A *unit* is mosslite's tokenizer-free size (`mosslite.data.world.count_units`): a run of Latin letters, a run of
digits, or any other non-space character (each Chinese character). The generator never runs that regex itself
(every template is pre-rendered with its count), so the reference pass shows what counting alone would cost.
Run: `.venv/bin/python benchmarks/data_world.py [--units 10_000_000] [--zh-share 0.01]`.
"""

from __future__ import annotations

import argparse
import time

from mosslite.data.world import World, WorldConfig, count_units


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=10_000_000)
    parser.add_argument("--zh-share", type=float, default=0.01)
    args = parser.parse_args()

    probe = World(WorldConfig(zh_share=args.zh_share, docs_per_fact=10))
    per_round = sum(d.en_units + d.zh_units for d in probe.documents()) / 10
    config = WorldConfig(zh_share=args.zh_share, docs_per_fact=max(1, round(args.units / per_round)))
    world = World(config)

    wall, cpu = time.perf_counter(), time.process_time()
    texts, units, zh = [], 0, 0
    for doc in world.documents():
        texts.append(doc.text)
        units, zh = units + doc.en_units + doc.zh_units, zh + doc.zh_units
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    chars = sum(map(len, texts))

    ref = time.process_time()
    counted = sum(count_units(t) for t in texts)
    ref = time.process_time() - ref
    assert counted == units, "pre-rendered unit counts disagree with count_units"

    print(f"world: {len(world.entities)} entities, {len(world.facts)} facts, docs_per_fact {config.docs_per_fact}")
    print(f"generated {units:,} units ({zh / units:.3%} Chinese, {chars / 1e6:.1f} M characters, {len(texts):,} "
          f"documents) in {cpu:.2f} s CPU ({wall:.2f} s wall)")
    print(f"  {units / cpu / 1e6:.2f} M units/s CPU, {chars / cpu / 1e6:.1f} M characters/s")
    print(f"reference: count_units over the same text takes {ref:.2f} s CPU; generation / counting = {cpu / ref:.2f}x")


if __name__ == "__main__":
    main()

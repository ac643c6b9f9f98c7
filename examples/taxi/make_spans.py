"""Split the taxi sample into spans by time, as data would arrive: ``<dir>/span-<n>/taxi.csv``.

    python examples/taxi/make_spans.py /tmp/taxi-spans [--spans 2]

Rows are ordered by ``trip_start_timestamp`` and cut into ``--spans`` equal parts, oldest first,
so span 2 holds rides that came after span 1's (the pipeline's ``TAXI_SPANS_DIR`` mode then
retrains on the newest span from the model blessed on the previous one).
"""

from __future__ import annotations

import argparse
import csv
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "data", "taxi.csv")


def make_spans(target: str, spans: int = 2, source: str = SOURCE) -> list[str]:
    """Write ``spans`` span folders under ``target``; their CSV paths, span 1 first."""
    if spans < 1:
        raise ValueError(f"spans must be >= 1, got {spans}")
    with open(source, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    column = header.index("trip_start_timestamp")
    rows.sort(key=lambda row: int(row[column] or 0))
    size = -(-len(rows) // spans)
    paths = []
    for index in range(spans):
        folder = os.path.join(target, f"span-{index + 1}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "taxi.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows[index * size:(index + 1) * size])
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target", help="folder to write span-<n>/taxi.csv into")
    parser.add_argument("--spans", type=int, default=2)
    args = parser.parse_args()
    for path in make_spans(args.target, args.spans):
        print(path)


if __name__ == "__main__":
    main()

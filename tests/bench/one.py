"""Run one measurement in this (fresh) process and print one JSON line: seconds, baseline, peak RSS."""

from __future__ import annotations

import argparse
import json
import resource
import sys

from tests.bench.measures import MEASURES, NotBuilt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--size", default="S")
    ap.add_argument("--db", default="sqlite")
    ap.add_argument("--repeat", type=int, default=0)
    args = ap.parse_args()
    try:
        out = MEASURES[args.name](args.size, args.db)
    except NotBuilt as exc:
        print(json.dumps({"seconds": None, "note": f"not built yet: {exc}"}))
        return 0
    out["peak_rss_mb"] = out.get("peak_rss_mb") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

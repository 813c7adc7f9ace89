"""A separate process that submits survey answers for tokens read from a file (fault and concurrency tests).

    python -m tests.faults.intake_worker DATABASE_URL TOKENS_FILE [--reverse]

Prints one line per token: ``<status> <token-prefix>``, then ``done``.
"""

from __future__ import annotations

import sys

from data.engine import get_engine
from surveys.intake import submit
from tests.surveys.helpers import HAPPY, UNHAPPY


def main() -> None:
    url, tokens_file = sys.argv[1], sys.argv[2]
    tokens = [t for t in open(tokens_file, encoding="ascii").read().split() if t]
    if "--reverse" in sys.argv:
        tokens.reverse()
    engine = get_engine(url)
    for i, token in enumerate(tokens):
        res = submit(engine, token, UNHAPPY if i % 3 == 0 else HAPPY)
        print(res.status, token[:8], flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()

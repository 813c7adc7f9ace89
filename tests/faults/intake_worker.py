"""A separate process that submits survey answers for tokens read from a file (fault and concurrency tests).

    python -m tests.faults.intake_worker DATABASE_URL TOKENS_FILE [--reverse]
        [--kiosk PER_MINUTE,PER_DAY] [--now ISO-TIME]

Prints one line per token: ``<status> <token-prefix>``, then ``done``. With ``--kiosk`` the tokens are kiosk (hall)
links, answered with the hall questionnaire and held to that ceiling; ``--now`` fixes the submission time (so a
concurrency test does not depend on how fast the machine is).
"""

from __future__ import annotations

import datetime as dt
import sys

from data.engine import get_engine
from surveys.intake import submit
from surveys.settings import KioskSettings
from tests.surveys.helpers import HAPPY, UNHAPPY

HALL = {"csat": 4, "nps": 9}


def _arg(name: str) -> str | None:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


def main() -> None:
    url, tokens_file = sys.argv[1], sys.argv[2]
    tokens = [t for t in open(tokens_file, encoding="ascii").read().split() if t]
    if "--reverse" in sys.argv:
        tokens.reverse()
    kiosk_arg, now_arg = _arg("--kiosk"), _arg("--now")
    kiosk = None
    if kiosk_arg:
        per_minute, per_day = (int(v) for v in kiosk_arg.split(","))
        kiosk = KioskSettings(per_minute=per_minute, per_day=per_day, audit_every_minutes=10)
    now = dt.datetime.fromisoformat(now_arg) if now_arg else None
    engine = get_engine(url)
    for i, token in enumerate(tokens):
        answers = HALL if kiosk else (UNHAPPY if i % 3 == 0 else HAPPY)
        res = submit(engine, token, answers, kiosk=kiosk, now=now)
        print(res.status, token[:8], flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()

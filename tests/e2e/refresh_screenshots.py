"""Refresh the README's screenshots from the journey suite's artifacts (``make screenshots`` after ``make test``).

The journeys write a full-page picture of every page per role to artifacts/screens/; this copies the ones the README
and docs/onboarding.md show into docs/screenshots/, scaled to 960 px wide so the repository stays small
(``python -m tests.e2e.refresh_screenshots onboarding`` refreshes only the pictures whose name starts so, e.g. after
running tests/e2e/test_wizard_journey.py alone)."""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "artifacts" / "screens"
TARGET = ROOT / "docs" / "screenshots"
PICTURES = {  # docs name <- journey screenshot
    "overview.png": "manager-home.png",
    "overview-en.png": "manager-home-en.png",
    "regions-county.png": "county-manager-regions.png",
    "quality-misses.png": "manager-quality-drill.png",
    "channels.png": "manager-channels.png",
    "satisfaction.png": "manager-satisfaction.png",
    "followups-queue.png": "manager-followups.png",
    "hr.png": "hr-hr.png",
    "imports.png": "admin-imports.png",
    "survey-phone.png": "customer-zh-CN-survey-large.png",
    # docs/onboarding.md: the new-site journey (tests/e2e/test_wizard_journey.py)
    **{f"onboarding-{n}.png": f"onboarding-{n}.png" for n in (
        "reference-preview", "upload", "mapping", "dry-run", "imported", "overview")},
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    pictures = {k: v for k, v in PICTURES.items() if not args or k.startswith(tuple(args))}
    missing = [src for src in pictures.values() if not (SOURCE / src).exists()]
    if missing:
        print(f"run the journeys first (make test): missing {', '.join(missing)} in {SOURCE}", file=sys.stderr)
        return 2
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, src in pictures.items():
        im = Image.open(SOURCE / src).convert("RGB")
        width = 390 if src.startswith("customer") else 960
        if im.width > width:
            im = im.resize((width, round(im.height * width / im.width)), Image.Resampling.LANCZOS)
        im.save(TARGET / name, optimize=True)
    print(f"{len(pictures)} screenshots refreshed in {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

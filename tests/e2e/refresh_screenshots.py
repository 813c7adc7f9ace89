"""Refresh the README's screenshots from the journey suite's artifacts (``make screenshots`` after ``make test``).

The journeys write a full-page picture of every page per role to artifacts/screens/; this copies the ones the README
shows into docs/screenshots/, scaled to 960 px wide so the repository stays small."""

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
}


def main() -> int:
    missing = [src for src in PICTURES.values() if not (SOURCE / src).exists()]
    if missing:
        print(f"run the journeys first (make test): missing {', '.join(missing)} in {SOURCE}", file=sys.stderr)
        return 2
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, src in PICTURES.items():
        im = Image.open(SOURCE / src).convert("RGB")
        width = 390 if src.startswith("customer") else 960
        if im.width > width:
            im = im.resize((width, round(im.height * width / im.width)), Image.Resampling.LANCZOS)
        im.save(TARGET / name, optimize=True)
    print(f"{len(PICTURES)} screenshots refreshed in {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

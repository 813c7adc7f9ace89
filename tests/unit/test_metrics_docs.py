"""The KPI registry, docs/metrics.md and the kpi.* catalogue entries stay in step (python -m metrics docs)."""

from __future__ import annotations

import json
from pathlib import Path

from metrics import docs
from metrics.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = {"zh-CN": ROOT / "data" / "locales" / "zh_CN.json", "en": ROOT / "data" / "locales" / "en.json"}


def _catalogues() -> dict[str, dict[str, str]]:
    return {lang: json.loads(p.read_text(encoding="utf-8")) for lang, p in CATALOGUES.items()}


def test_docs_page_and_catalogues_are_in_step_with_the_registry() -> None:
    md = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert docs.problems(md, _catalogues()) == [], "run `python -m metrics docs`"


def test_every_kpi_has_both_languages_in_the_catalogues() -> None:
    cats = _catalogues()
    for key, k in REGISTRY.items():
        assert cats["zh-CN"][f"kpi.{key}.label"] == k.label_zh
        assert cats["en"][f"kpi.{key}.description"] == k.description_en


def test_check_detects_each_kind_of_drift() -> None:
    md = docs.render_markdown()
    cats = docs.catalogue_entries()
    assert docs.problems(md, cats) == []
    first = next(iter(REGISTRY))
    stale = {lang: {**c, "kpi.gone.label": "x"} for lang, c in cats.items()}
    edited = {lang: {**c, f"kpi.{first}.label": "changed"} for lang, c in cats.items()}
    missing = {lang: {k: v for k, v in c.items() if k != f"kpi.{first}.description"} for lang, c in cats.items()}
    assert any("differs" in p for p in docs.problems(md.replace(first, "renamed", 1), cats))
    assert any("stale kpi.gone.label" in p for p in docs.problems(md, stale))
    assert any("differs from the registry" in p for p in docs.problems(md, edited))
    assert any("missing" in p for p in docs.problems(md, missing))


def test_merge_keeps_other_keys_and_their_order() -> None:
    cat = {"app.title": "A", "kpi.old.label": "stale", "kpi.csat.label": "old", "z.last": "Z", "kpi.csat.note": "n"}
    merged = docs.merge_catalogue(cat, "en")
    keys = list(merged)
    assert keys[:4] == ["app.title", "kpi.csat.label", "z.last", "kpi.csat.note"]
    assert "kpi.old.label" not in merged and merged["kpi.csat.label"] == REGISTRY["csat"].label_en
    assert set(docs.catalogue_entries()["en"]) <= set(merged)


def test_a_higher_is_better_score_is_not_named_for_what_it_costs() -> None:
    """Issue 16.8: "客户费力度均分 5.77 ✓ 达标 目标 ≥ 5.50" read backwards. A KPI whose higher values are better is named
    for what it measures (办事便捷度 / ease), in the registry and every catalogue entry that labels it."""
    cats = _catalogues()
    costly = ("费力", "effort")
    for key, k in REGISTRY.items():
        if k.direction != "higher":
            continue
        for text in (k.label_zh, k.label_en, cats["zh-CN"][f"kpi.{key}.label"], cats["en"][f"kpi.{key}.label"]):
            assert not any(word in text.lower() for word in costly), (key, text)
    for lang, cat in cats.items():
        for entry in ("col.ces", "import.field.ces"):
            assert not any(word in cat[entry].lower() for word in costly), (lang, entry, cat[entry])


def test_english_tile_labels_are_told_apart_before_a_tile_cuts_them() -> None:
    """Issue 16.7: two English tiles were cut to the same "First-contact resolution (s…". A tile shows about 24
    characters of its label: the headline KPIs differ within them."""
    from metrics.overview import HEADLINE_KPIS

    heads = [REGISTRY[k].label_en[:24] for k in HEADLINE_KPIS]
    assert len(set(heads)) == len(heads), sorted(heads)

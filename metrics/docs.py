"""The generated KPI reference: ``docs/metrics.md`` and the ``kpi.<key>.label`` / ``kpi.<key>.description`` entries
of the zh-CN and English catalogues, both rendered from the registry so the three never drift apart.

Pure text: :func:`render_markdown` and :func:`catalogue_entries` return strings and dicts; ``python -m metrics docs``
(the composition root) writes them, ``python -m metrics docs --check`` and ``tests/unit/test_metrics_docs.py`` fail
when a file is out of step (:func:`problems`).
"""

from __future__ import annotations

from collections.abc import Mapping

from metrics.registry import KPI, REGISTRY

__all__ = ["render_markdown", "catalogue_entries", "merge_catalogue", "problems", "KEY_PREFIX", "LANGS"]

KEY_PREFIX = "kpi."
LANGS = ("zh-CN", "en")

# fmt: off
_HEAD = """\
# Metrics: KPI registry and statistical methods

Generated from `metrics/registry.py` (the single declaration of every KPI); `python -m metrics docs` writes it
and the `kpi.*` catalogue entries; `tests/unit/test_metrics_docs.py` fails when they are out of step. Definitions follow `shared/reference/KPIS.md`.

Values are stored as fractions (shares 0-1, NPS -1..1) and scaled only for display (`display_scale`).
Targets and at-risk margins are site-configurable defaults unless the source names a standard.

Status: n < min_n or no value -> insufficient; higher-is-better: value >= target -> met, >= target - margin -> at_risk,
else missed (mirrored for lower-is-better).

"""

_METHODS = """\
## Methods (module -> what, reference it is tested against)

| module | functions | tested against |
|---|---|---|
| `metrics.intervals` | `wilson_interval`, `agresti_coull_interval`, `nps_interval` (Wald, adjusted Wald), `mean_interval`, `percentile` (inverted CDF), `percentile_ci` / `order_statistic_ranks` (distribution-free), `grouped_quantile` (vectorised), `poisson_interval`, `bootstrap_ci`, `bootstrap_diff_ci` (seeded) | R `binom` 18/20, 4/20; NPS 50/30/20; statsmodels `proportion_confint`; scipy t; Conover n=100 median ranks (40, 61); numpy quantile |
| `metrics.significance` | `newcombe_diff_interval`, `two_proportion_test`, `welch_diff`, `nps_diff`, `mann_whitney`, `chi_square_proportions` (Yates only for 2x2), `kruskal_wallis`, `dunn_test`, `adjust_pvalues` (Holm, BH) | statsmodels `confint_proportions_2indep(method='newcomb')`, `proportions_ztest`, `proportions_chisquare`, `multipletests`; scipy |
| `metrics.reliability` | `cronbach_alpha` (listwise deletion, Feldt interval), `cronbach_alpha_from_cov`, `feldt_interval`, `cronbach_alpha_pairwise` (rotated questionnaires: pairwise covariances, items not asked are missing by design) | covariance example -> 0.8136, also from a two-of-four rotated sample |
| `metrics.drivers` | `relative_weights` (Johnson), `shapley_r2` (exact LMG, <= 15 drivers), `importance_performance`, `pairwise_relative_weights` (rotated designs: pairwise-complete correlations) | R `rwa` on mtcars mpg ~ cyl+disp+hp+gear; LMG by averaging all orderings of OLS fits; the full-data weights from a two-of-four rotated sample |
| `metrics.control` | `p_chart`, `laney_p_chart`, `xmr_chart` (beyond-limit and run flags) | R `qcc` viscosity (phase I) and orangejuice |
| `metrics.shrinkage` | `fit_beta_prior`, `shrink_proportions`, `bayesian_average`, `case_mix_oe` | hand computations in the tests |
| `metrics.weighting` | `rake` (IPF), `kish_deff`, `effective_n` | post-stratification by hand; IPF keeps the sample odds ratio |
| `metrics.businesstime` | `WorkCalendar`, `working_minutes`, `working_days_between`, `elapsed_working_days`, `is_working_day` | Fri 16:00 -> Mon 10:00 = 3.0 h; 2024 National Day make-up days |
| `metrics.kpis` | `compute(kpi_key, frame, by=[...], **params)`, `result(...) -> MetricResult`, one function per KPI | hand counts; Wilson/t/Poisson intervals from statsmodels/scipy |
| `metrics.compare` | `compare(current, previous, adjust='holm'/'bh')` | statsmodels Newcombe / z test / multipletests; scipy Welch |
| `metrics.sla` | `join_sla_limits(frame, policies, intervals)` (most specific policy row per order, validity dates) | hand-made policy rows in the tests |
| `metrics.rollup` | `rollup(result, kpi, by)`: exact roll-up of fine `compute` results (counts; Σx, Σx² for means) | `compute` over the rows of each coarser group |
| `metrics.overview` | `prepare`, `overview_pack(current, previous, policies, calendar, ...)` -> `OverviewPack` (headline with Holm-adjusted comparison, region x channel breakdown with BH, daily p / Laney p' / XmR trend, weighted CSAT/NPS) | demo-world planted effects; SQLite = PostgreSQL |
| `metrics.weighting` | `service_margins`, `weighted_survey` (raked to region x channel x service type; Kish deff, effective n) | post-stratification by hand |
| `metrics.drivers` | `dimension_drivers` (relative weights + Shapley on pairwise-complete correlations), `operational_drivers`, `arrival_effect` (CSAT points per 30 min, HC1 interval, binned table) | demo-world planted top driver; OLS slope by hand |
| `metrics.topics` | `tag_comments` (jieba + topic lexicon + sentiment lexicon), `topic_counts`, `topic_examples` (masked by the caller's `data.masking.mask_free_text`) | hand-tagged comments |
| `metrics.docs` | `render_markdown`, `catalogue_entries`, `problems` (this page and the catalogues from the registry) | `tests/unit/test_metrics_docs.py` |

"""

_CONVENTIONS = """\
## Conventions worth knowing

- Open work is right-censored: duration KPIs report `n_open`, `open_age_mean`, `open_age_max` as of `as_of`
  (default: the latest timestamp in the frame). SLA attainment counts open orders already past their limit as
  breaches and reports the others as `n_open_pending`.
- Exception reasons are never dropped: `n_exception` everywhere; SLA attainment leaves them out of the value by
  default (`exceptions='apart'`) and reports `value_incl_exceptions`.
- 'average' commitments (十项承诺 2023) are judged on the mean (`mean_ratio`, `commitment_met`) beside the share.
- System FCR shows its window N (`window_days`) and excludes the last N days of the window and outage contacts.
- Hotline service level: abandoned calls are failures, abandons under 5 s are excluded (`convention` column).
- Channel codes follow `data/refdata/channels.csv` (`hotline`, `hall`, online: `app`, `wechat`, `alipay`, `web`);
  complaints are `service_type == 'complaint'`.
- XmR reference data: the qcc `viscosity` phase-I batches are 33.75, 33.05, 34.00, 33.81, 33.46, 34.02, 33.68,
  33.27, 33.49, 33.20, 33.62, 33.00, 33.54, 33.12, 33.84 (these reproduce CL 33.52333 and [32.24484, 34.80183]).
"""
# fmt: on


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(v: float) -> str:
    return f"{v:g}"


def _row(k: KPI) -> str:
    cells = [f"`{k.key}`", k.label_zh, k.label_en, k.formula, k.unit, k.direction, _num(k.target),
             _num(k.at_risk_margin), str(k.min_n), k.kind, k.frame, k.source]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _descriptions() -> str:
    lines = ["## Descriptions (also the catalogue entries `kpi.<key>.label` / `kpi.<key>.description`)", ""]
    for k in REGISTRY.values():
        lines += [f"### `{k.key}` {k.label_zh} / {k.label_en}", "", f"- 中文: {k.description_zh}",
                  f"- English: {k.description_en}", f"- breakdowns: {', '.join(k.breakdowns)}", ""]
    return "\n".join(lines)


def render_markdown() -> str:
    """The full text of ``docs/metrics.md``."""
    table = ["| key | 中文 | English | formula | unit | direction | target | margin | min n | kind | frame | source |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    table += [_row(k) for k in REGISTRY.values()]
    return _HEAD + "\n".join(table) + "\n\n" + _METHODS + _CONVENTIONS.rstrip("\n") + "\n\n" + _descriptions()


def catalogue_entries() -> dict[str, dict[str, str]]:
    """``{lang: {"kpi.<key>.label": ..., "kpi.<key>.description": ...}}`` for zh-CN and en, in registry order."""
    out: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}
    for k in REGISTRY.values():
        out["zh-CN"][f"{KEY_PREFIX}{k.key}.label"] = k.label_zh
        out["zh-CN"][f"{KEY_PREFIX}{k.key}.description"] = k.description_zh
        out["en"][f"{KEY_PREFIX}{k.key}.label"] = k.label_en
        out["en"][f"{KEY_PREFIX}{k.key}.description"] = k.description_en
    return out


def _is_generated(key: str) -> bool:
    return key.startswith(KEY_PREFIX) and key.endswith((".label", ".description"))


def merge_catalogue(catalogue: Mapping[str, str], lang: str) -> dict[str, str]:
    """``catalogue`` with its generated ``kpi.*.label`` / ``kpi.*.description`` entries replaced by the registry's:
    other keys keep their order, stale generated keys go, new ones are appended in registry order."""
    entries = catalogue_entries()[lang]
    out = {k: (entries[k] if k in entries else v) for k, v in catalogue.items()
           if not _is_generated(k) or k in entries}
    for k, v in entries.items():
        out.setdefault(k, v)
    return out


def problems(markdown: str, catalogues: Mapping[str, Mapping[str, str]]) -> list[str]:
    """What is out of step between the registry, the docs page and the catalogues (empty when in step)."""
    out: list[str] = []
    if markdown != render_markdown():
        out.append("docs/metrics.md differs from the registry: run `python -m metrics docs`")
    for lang, entries in catalogue_entries().items():
        cat = catalogues.get(lang, {})
        for key, text in entries.items():
            if key not in cat:
                out.append(f"{lang}: missing {key}")
            elif cat[key] != text:
                out.append(f"{lang}: {key} differs from the registry")
        for key in cat:
            if _is_generated(key) and key not in entries:
                out.append(f"{lang}: stale {key} (no such KPI)")
    return out

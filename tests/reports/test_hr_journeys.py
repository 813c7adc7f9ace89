"""HR journeys (journeys issue 16, items 13-16) on the shared size-S demo world: the comparison period of a quarter is
the previous quarter, a person's detail and the summary say what they mean (each veto once, a capped grade says it
is capped, advice beside every veto, why a rank band is too wide, how many more cases would give a grade, no literal
None, service types by name), and a team's PDF holds that team's staff and nobody else."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from pypdf import PdfReader
from sqlalchemy import text

from data.engine import get_engine
from data.reference import service_types
from data.repositories import Scope
from metrics.periods import comparison, named
from reports.assessment import build, staff_comments, staff_detail_display
from reports.exports import for_team, to_pdf, to_xlsx
from reports.scheme import load_scheme
from tests.reports.pdftext import pdf_texts as _pdf_texts


@pytest.fixture(scope="module")
def assessment(demo_reviews_url: str):  # type: ignore[no-untyped-def]
    return build(get_engine(demo_reviews_url), Scope("/1/"), named("2026-Q3"), scope_region_id=1)


def test_previous_period_of_a_quarter_is_the_previous_quarter(assessment) -> None:  # type: ignore[no-untyped-def]
    assert comparison(named("2026-Q3"), "previous") == named("2026-Q2")
    assert comparison(named("2026-03"), "previous") == named("2026-02")
    assert comparison(named("2026"), "previous") == named("2025")
    assert assessment.previous == named("2026-Q2")
    wb = openpyxl.load_workbook(io.BytesIO(to_xlsx(assessment)))
    cells = [str(c) for row in wb["方法说明"].iter_rows(values_only=True) for c in row if c is not None]
    assert "2026-04-01 至 2026-06-30" in cells
    assert not any("2026-03-31" in c for c in cells)


def test_each_veto_once_capped_grade_says_so_and_advice_beside_it(assessment) -> None:  # type: ignore[no-untyped-def]
    scheme = load_scheme()
    names = [c.name_zh for c in scheme.critical]
    tb = assessment.table
    vetoed = tb[tb["critical"] != ""]
    assert len(vetoed), "the demo world plants substantiated complaints"
    for hits in vetoed["critical"]:
        parts = hits.split("；")
        assert len(parts) == len(set(parts)) and all(p in names for p in parts)
        assert not ("有责投诉" in parts and "有责投诉（多次）" in parts)
    capped = assessment.cards.totals.set_index("staff_id")["capped"]
    for rec in tb[tb["staff_id"].map(capped).astype(bool)].itertuples():
        assert "封顶" in rec.grade or "清零" in rec.grade, rec.grade
    assert (tb["staff_id"].map(capped).astype(bool)).any(), "the demo world has a capped grade"
    assert (vetoed["training"] != "").all()
    pdf = to_pdf(assessment, staff_ids=vetoed["staff_id"].head(3).tolist())
    staff_pages = "\n".join(_pdf_texts(pdf, last=3))
    assert "暂无培训建议" not in staff_pages and "否决项" in staff_pages


def test_rank_band_says_why_it_is_too_wide(assessment) -> None:  # type: ignore[no-untyped-def]
    tb = assessment.table
    t = assessment.cards.totals.set_index("staff_id")
    graded = tb[tb["total"].notna()]
    for rec in graded.itertuples():
        best, worst, n = t.loc[rec.staff_id, ["rank_best", "rank_worst", "ranked"]]
        if n >= 3 and (worst - best + 1) / n > 0.5:
            assert rec.rank_band.startswith("区间过宽，无法排名："), rec.rank_band
            more = t.loc[rec.staff_id, "more_for_rank"]
            assert (f"再有约{int(more)}个评价可缩窄" in rec.rank_band) if pd.notna(more) else "误差" in rec.rank_band
        else:
            assert rec.rank_band == f"第{best}–{worst}名/共{n}人"
    assert not any(re.fullmatch(r"第1–(\d+)名/共\1人", b) and int(b.split("共")[1][:-1]) >= 3
                   for b in graded["rank_band"])


def test_insufficient_staff_are_told_how_many_more_cases_give_a_grade(assessment) -> None:  # type: ignore[no-untyped-def]
    scheme = load_scheme()
    k = assessment.cards.kpis
    t = assessment.cards.totals.set_index("staff_id")
    tb = assessment.table
    ungraded = tb[tb["total"].isna()]
    assert len(ungraded)
    assert ungraded["evidence"].str.startswith("还需约").all()
    assert (tb.loc[tb["total"].notna(), "evidence"] == "").all()
    source = {key: spec.source for key, spec in scheme.kpis.items()}
    for sid in ungraded["staff_id"].head(40):
        more, by = t.loc[sid, "more_cases"], t.loc[sid, "more_by_source"]
        assert more == sum(by.values()) > 0
        mine = k[k["staff_id"] == sid]
        # that many more cases of each source make the scored weight share reach the scheme's minimum
        n_after = mine["n"] + mine["kpi"].map(source).map(lambda s, by=by: by.get(s, 0))
        share = mine.loc[n_after >= mine["min_n"], "weight"].sum() / mine["weight"].sum()
        assert share >= scheme.method.min_weight_share - 1e-9
        # and one case fewer of any source would not
        for src in by:
            fewer = n_after - (mine["kpi"].map(source) == src)
            share = mine.loc[fewer >= mine["min_n"], "weight"].sum() / mine["weight"].sum()
            assert share < scheme.method.min_weight_share - 1e-9 or by[src] == 0
    # in the workbook and on the person's PDF page
    ws = openpyxl.load_workbook(io.BytesIO(to_xlsx(assessment)))["汇总"]
    rows = list(ws.iter_rows(values_only=True))
    col = rows[0].index("评级还需")
    assert sum(1 for r in rows[1:] if r[col] and str(r[col]).startswith("还需约")) == len(ungraded)
    rec = ungraded.iloc[0]
    page = _pdf_texts(to_pdf(assessment, staff_ids=[int(rec["staff_id"])]), last=1)[-1]
    assert "评级还需" in page and rec["evidence"] in page


def test_detail_shows_no_literal_none_and_comments_name_service_types(assessment,  # type: ignore[no-untyped-def]
                                                                       demo_reviews_url: str) -> None:
    k = assessment.cards.kpis
    sid = int(k.loc[k["n"] == 0, "staff_id"].iloc[0])
    shown = staff_detail_display(assessment, sid)
    values = shown.to_numpy(object).ravel()
    assert not any(v is None or (isinstance(v, float) and np.isnan(v)) or str(v) in ("None", "nan") for v in values)
    assert "—" in set(values)
    codes = set(service_types()["code"])
    names = set(service_types()["name_zh"])
    with_comments = next(c for s in assessment.table["staff_id"].head(60)
                         if len(c := staff_comments(get_engine(demo_reviews_url), Scope("/1/"), int(s),
                                                    named("2026-Q3"))))
    assert set(with_comments["service_type"]) <= names and not set(with_comments["service_type"]) & codes


def test_team_pdf_holds_only_that_team(assessment) -> None:  # type: ignore[no-untyped-def]
    roster = assessment.roster
    sizes = roster[roster["staff_id"].isin(assessment.table["staff_id"])].groupby("team_id")["staff_id"].size()
    team_id = int(sizes.index[sizes.argmax()])
    sub = for_team(assessment, team_id)
    team_staff = roster.loc[roster["team_id"] == team_id, "staff_id"]
    assert set(sub.table["staff_id"]) == set(team_staff) and len(sub.table) >= 2
    texts = _pdf_texts(to_pdf(sub))
    everyone = "\n".join(texts)
    codes = dict(zip(assessment.table["staff_id"], assessment.table["code"], strict=True))
    mine = {codes[s] for s in team_staff}
    others = set(codes.values()) - mine
    assert all(c in everyone for c in mine)
    assert not any(c in everyone for c in others)
    assert len(texts) == 1 + len(mine) and "员工服务绩效考核报告" in texts[0]
    # the grades are those of the whole assessment (a team is no peer group of its own)
    whole = assessment.table.set_index("staff_id")["grade"]
    assert (sub.table.set_index("staff_id")["grade"] == whole.loc[sub.table["staff_id"]]).all()


def test_whole_pdf_has_every_page(assessment) -> None:  # type: ignore[no-untyped-def]
    data = to_pdf(assessment)
    reader = PdfReader(io.BytesIO(data))
    tb = assessment.table
    summary_pages = len(reader.pages) - len(tb)
    assert 1 <= summary_pages <= 2 + len(tb) // 40
    last = _pdf_texts(data, last=1)[-1]
    assert tb["code"].iloc[-1] in last and f"共{len(reader.pages)}页" in re.sub(r"\s+", "", last)


@pytest.mark.slow
def test_cli_writes_one_pdf_per_team(demo_reviews_url: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from reports.__main__ import main

    engine = get_engine(demo_reviews_url)
    with engine.connect() as conn:  # the unit with the fewest teams (at least two): a PDF per team costs ~0.5 s
        code, path, region_id = conn.execute(text(
            "SELECT r.code, r.path, r.id FROM region r JOIN region s ON s.path LIKE r.path || '%' "
            "JOIN staff st ON st.region_id = s.id GROUP BY r.id "
            "HAVING COUNT(DISTINCT st.team_id) >= 2 ORDER BY COUNT(DISTINCT st.team_id), r.code LIMIT 1")).one()
    monkeypatch.setenv("DATABASE_URL", demo_reviews_url)
    out = tmp_path / "teams"
    assert main(["assessment", "--period", "2026-Q3", "--scope", code, "--format", "pdf", "--per-team",
                 "--no-compare", "--out", str(out)]) == 0
    files = sorted(out.glob("assessment_2026-07-01_2026-09-30_team-*.pdf"))
    a = build(engine, Scope(path), named("2026-Q3"), compare=False, scope_region_id=region_id)
    teams = a.roster[a.roster["staff_id"].isin(a.table["staff_id"])]["team_id"].nunique()
    assert len(files) == teams >= 2
    assert sum(len(PdfReader(f).pages) for f in files) == len(files) + len(a.table)
    assert main(["assessment", "--period", "2026-Q3", "--format", "xlsx", "--per-team", "--out", str(out)]) == 2

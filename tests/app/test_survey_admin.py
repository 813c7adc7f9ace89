"""The admin survey page: questionnaire versions, Cronbach's alpha per dimension, response rates."""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import insert

from data.engine import get_engine
from data.models import UTC, Answer, Response
from surveys.definitions import registry
from surveys.intake import submit
from tests.app.helpers import login
from tests.surveys.helpers import HAPPY, new_invitation


def goto(at, url_path: str):  # type: ignore[no-untyped-def]
    """Open a callable page by its URL path (AppTest.switch_page only knows file pages); a page the role does not
    have is not registered, so Streamlit falls back to the default page."""
    from streamlit.navigation.page import calc_hash

    at._page_hash = calc_hash(url_path)
    at.run()
    assert not at.exception, at.exception
    return at


def _seed_annual(url: str, n: int = 40) -> None:
    dims = registry().get("servqual_annual").dimensions()
    rng = np.random.default_rng(5)
    now = dt.datetime.now(UTC)
    with get_engine(url).begin() as conn:
        for _ in range(n):
            rid = conn.execute(insert(Response).values(region_id=7, channel="web", survey_key="servqual_annual",
                                                       survey_version=1, submitted_at=now, csat=4)).inserted_primary_key[0]
            for keys in dims.values():
                trait = rng.normal(4, 1.3)
                for k in keys:
                    conn.execute(insert(Answer).values(response_id=rid, item_key=k,
                                                       value_num=int(np.clip(round(trait + rng.normal(0, 0.7)), 1, 7))))


def test_admin_sees_versions_alpha_and_rates(tiny_app_db: str) -> None:
    _seed_annual(tiny_app_db)
    engine = get_engine(tiny_app_db)
    now = dt.datetime.now(UTC)
    for i in range(4):
        token, _ = new_invitation(engine, ticket_id=1, now=now)
        if i < 3:
            assert submit(engine, token, HAPPY).status == "ok"
    at = login("admin")
    goto(at, "survey_admin")
    frames = [df.value for df in at.dataframe]
    versions, alpha, rates = frames[0], frames[1], frames[2]
    assert set(versions["问卷"]) >= {"repair", "servqual_annual", "hall"}
    latest = versions.groupby("问卷")["版本"].transform("max") == versions["版本"]
    assert set(versions.loc[latest, "状态"]) == {"使用中"}
    assert set(versions.loc[~latest, "状态"]) <= {"已发布（旧版本）"}
    assert list(alpha["维度"])[:5] == ["有形设施", "可靠", "响应及时", "专业可信", "关怀"]
    assert all(float(a) > 0.6 for a in alpha["α"])
    assert list(alpha["有效问卷"]) == [40] * 6
    row = rates[(rates["邀请渠道"] == "sms") & (rates["业务类型"] == "repair")].iloc[0]
    assert (row["已送达"], row["已回复"], row["回复率"]) == (4, 3, "75.0%")
    assert any("Cronbach" in s.value for s in at.subheader)


def test_admin_sees_what_the_rotation_costs_per_item(tiny_app_db: str) -> None:
    engine = get_engine(tiny_app_db)
    now = dt.datetime.now(UTC)
    repair = registry().for_service_type("repair")
    for i in range(6):  # three old-version responses, three rotated ones with only the overall item answered
        version = 1 if i < 3 else repair.version
        token, _ = new_invitation(engine, ticket_id=1, now=now, version=version)
        assert submit(engine, token, HAPPY if i < 3 else {"csat": 4}).status == "ok"
    at = goto(login("admin"), "survey_admin")
    at.selectbox(key="survey_admin_rot_key").set_value("repair").run()
    cost = at.dataframe[3].value.set_index("衡量")
    assert "题目轮换的代价" in [s.value for s in at.subheader]
    # six responses in the window: NPS is asked of a third of the invitees, so n falls to 2, intervals x1.73
    nps = cost.loc["净推荐值（NPS）"]
    assert (nps["被问比例"], nps["预计回答数"], nps["区间宽度"]) == ("33.3%", "2", "×1.73")
    csat = cost.loc["总体满意度（CSAT）"]
    assert (csat["被问比例"], csat["预计回答数"], csat["区间宽度"], csat["已问（本版本）"],
            csat["作答率（被问到的客户中）"]) == ("100.0%", "6", "×1.00", 3, "100.0%")
    # a dimension item is asked of half; left blank where asked = unanswered, not asked = not counted at all
    crew = cost.loc["专业可信"]
    assert (crew["被问比例"], crew["区间宽度"]) == ("50.0%", "×1.41")
    assert crew["作答率（被问到的客户中）"] == ("0.0%" if crew["已问（本版本）"] else "—")
    assert cost["已问（本版本）"].drop("总体满意度（CSAT）").drop("意见建议").sum() == 3 * 3  # 2 dims + 1 KPI each


def test_the_page_is_for_admins_only(tiny_app_db: str) -> None:
    at = goto(login("manager"), "survey_admin")
    assert "问卷管理" not in [t.value for t in at.title]
    assert not any("Cronbach" in s.value for s in at.subheader)


def test_admin_page_shows_where_survey_links_point(tiny_app_db: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """GRIDCX_PUBLIC_URL on the admin page: missing outside demo mode is a warning (invitations are refused)."""
    monkeypatch.delenv("GRIDCX_PUBLIC_URL", raising=False)
    at = goto(login("admin"), "survey_admin")
    assert any("GRIDCX_PUBLIC_URL" in w.value and "拒绝发出邀请" in w.value for w in at.warning), at.warning
    monkeypatch.setenv("GRIDCX_PUBLIC_URL", "https://cx.example.cn/")
    at.run()
    assert not at.warning and "https://cx.example.cn/survey?t=" in "\n".join(m.value for m in at.markdown)

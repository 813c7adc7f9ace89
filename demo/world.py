"""The deterministic demo world: a slice of State Grid Shandong with two years of service logs and surveys.

``generate(size, seed)`` builds every table as a DataFrame (fully vectorised with one ``numpy`` Generator: the same
seed and size always give identical frames); ``load(engine, world)`` bulk-inserts it in one transaction (SQLite:
raw DBAPI ``executemany`` on pre-built tuples with timestamps pre-formatted as SQLAlchemy stores them; PostgreSQL:
``COPY``) and writes the ground truth beside the database. The idempotent entry point behind ``python -m demo`` (and
``python -m data demo``) is ``demo.run.run_demo(engine, size, seed, replace)``; XL is built chunk by chunk by
``demo.xl`` from this module's pieces.

The world carries known effects for the analytics to find; every parameter, and which staff were planted, is in
the ground-truth JSON (``World.truth``):

* repair arrival: lognormal, median and spread by area class (urban < rural < remote relative to 45/90/120 min);
* summer thunderstorm seasons (June-August) with mass-outage events, linked tickets/contacts, repair spikes;
* halls congested 9-11 am and on Mondays;
* online share rising month by month;
* satisfaction driven mostly by missing progress updates on long tickets (the ``transparency`` dimension), then
  by delay; billing questions on the hotline produce detractors;
* three clearly better and three clearly worse staff (one of each with only 2-3 surveys), and a crew serving only
  remote areas whose effect is zero (average once area class is accounted for);
* open work at the end of the window, a few long-open cases, reopen counts, substantiated complaints;
* about 10 % of responses with Chinese comments consistent with their scores; follow-ups for low scores.

Times are generated in Asia/Shanghai (UTC+8, no daylight saving) and stored as naive UTC.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import ArrayLike
from sqlalchemy import Engine, PoolProxiedConnection, text

from data import reference, snapshot
from data.engine import DATA_DIR  # the database's own folder (git-ignored ground-truth files)

GENERATOR_VERSION = "2"  # 2: whole-second timestamps, as real service logs carry
WINDOW_START_LOCAL = np.datetime64("2025-01-01T00:00:00", "us")
WINDOW_END_LOCAL = np.datetime64("2026-11-26T00:00:00", "us")  # exclusive: the last day is 2026-11-25
UTC_OFFSET = np.timedelta64(8, "h")  # Asia/Shanghai, no DST
WINDOW_MINUTES = float((WINDOW_END_LOCAL - WINDOW_START_LOCAL) / np.timedelta64(1, "m"))
N_DAYS = int(WINDOW_MINUTES // 1440)
FIRST_WEEKDAY = 2  # 2025-01-01 was a Wednesday (Monday = 0)

SIZES: dict[str, dict[str, Any]] = {
    "S": dict(tickets=20_000, contacts=30_000, responses=5_000, staff=200,
              counties=["371302", "371311", "371321", "371328"]),
    "M": dict(tickets=200_000, contacts=300_000, responses=50_000, staff=1_000,
              counties=["3713*", "370614"]),
    "L": dict(tickets=1_000_000, contacts=1_500_000, responses=250_000, staff=3_000,
              counties=["3713*", "370614"]),
    "XL": dict(tickets=10_000_000, contacts=15_000_000, responses=2_500_000, staff=20_000, counties=["*"]),
}

# --- planted effects (all copied into the ground truth) ----------------------------------------------------------
ARRIVAL = {"urban": (32.0, 0.45), "rural": (78.0, 0.50), "remote": (112.0, 0.55)}  # median minutes, log-sd
ARRIVAL_LIMIT = {"urban": 45, "rural": 90, "remote": 120}
RESTORATION = {"urban": (95.0, 0.6), "rural": (140.0, 0.6), "remote": (190.0, 0.65)}  # after arrival
OUTAGE_ARRIVAL_FACTOR = 1.5
ONLINE_SHARE = (0.35, 0.60)  # first month -> last month
STORM_MONTHS = (6, 7, 8)
STORM_DAYS_PER_SUMMER = 14


class HallWait(TypedDict):
    """Planted hall congestion: waits in minutes, longer in the peak hours and on Mondays."""

    median_min: float
    sigma: float
    peak_hours: tuple[int, int]
    peak_factor: float
    monday_factor: float


HALL_WAIT = HallWait(median_min=6.0, sigma=0.55, peak_hours=(9, 11), peak_factor=2.6, monday_factor=1.8)
HOTLINE_WAIT = dict(median_s=7.0, sigma=1.0, outage_factor=3.0, patience_mean_s=150.0)
CHAT_WAIT = dict(median_s=25.0, sigma=0.9)
STAFF_EFFECT = 1.2  # latent-scale shift of the planted best (+) and worst (-) staff
DIM_WEIGHTS = {"transparency": 0.50, "responsiveness": 0.25, "reliability": 0.10, "assurance": 0.08,
               "bill_clarity": 0.04, "convenience": 0.03}
NO_UPDATE_PENALTY = 1.9  # on transparency, long tickets (> 4 h) with progress_updates == 0
LONG_TICKET_MIN = 240.0
NO_UPDATE_SHARE = 0.30  # of long tickets
HOTLINE_BILLING_PENALTY = 1.0  # direct latent penalty on billing tickets raised through the hotline
RESPONSE_RATE = 0.35
COMMENT_SHARE = 0.10

SERVICE_MIX = {"repair": 0.30, "billing": 0.15, "payment": 0.09, "inquiry": 0.15, "meter": 0.06,
               "connection_residential": 0.07, "connection_lv": 0.03, "connection_hv": 0.01,
               "connection_hv_dual": 0.003, "reconnection": 0.05, "complaint": 0.03}
# dimension items asked per service type (3-5 each; transparency always, so its effect is comparable)
DIMENSIONS_BY_SERVICE = {
    "repair": ["responsiveness", "reliability", "transparency", "assurance"],
    "connection_residential": ["responsiveness", "transparency", "convenience", "assurance"],
    "connection_lv": ["responsiveness", "transparency", "convenience", "assurance"],
    "connection_hv": ["responsiveness", "transparency", "convenience", "assurance", "reliability"],
    "connection_hv_dual": ["responsiveness", "transparency", "convenience", "assurance", "reliability"],
    "meter": ["reliability", "transparency", "assurance"],
    "billing": ["bill_clarity", "transparency", "convenience", "assurance"],
    "payment": ["bill_clarity", "convenience", "transparency"],
    "reconnection": ["responsiveness", "bill_clarity", "transparency"],
    "complaint": ["responsiveness", "transparency", "assurance", "reliability", "convenience"],
    "inquiry": ["convenience", "assurance", "transparency"],
}
DIMENSIONS = list(DIM_WEIGHTS)
SURVEY_KEY = {"repair": "post_repair", "connection_residential": "post_connection", "connection_lv": "post_connection",
              "connection_hv": "post_connection", "connection_hv_dual": "post_connection", "meter": "post_service",
              "billing": "post_contact", "payment": "post_contact", "reconnection": "post_service",
              "complaint": "post_complaint", "inquiry": "post_contact"}

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌辉鹏宇浩凯晨阳欣怡婷雪梅海燕波亮林峰丹宁慧颖瑞祥福春荣彬凤琴云飞霖德山东庆岩鑫")
VILLAGE = ["王家庄", "李家村", "张庄", "后屯", "前店", "东岭", "西河", "南洼", "北坡", "大王庄", "小刘庄", "马家沟",
           "杨树湾", "石桥村", "河崖村", "新村", "孙家岭", "赵家庄", "高家洼", "徐家营"]
ROAD = ["人民路", "解放路", "建设路", "和平路", "胜利街", "新华路", "文化路", "东风路", "幸福街", "金雀山路", "沂蒙路",
        "通达路", "北京路", "育才路", "滨河路", "青年路", "府前街", "工业大道", "商贸街", "振兴路"]

POS = {
    "repair": ["抢修很及时", "师傅很专业，很快就来电了", "抢修人员态度很好"],
    "billing": ["电费解释得很清楚", "客服耐心讲解了阶梯电价"],
    "hall": ["营业厅服务态度很好", "办理很快，不用排队"],
    "online": ["网上国网办理很方便", "手机上就办好了，很省事"],
    "any": ["服务态度很好", "非常满意", "工作人员很热情", "问题解决得很快"],
}
NEG = {
    "repair": ["抢修人员来得太慢", "停电也不通知一声", "一直没人告诉什么时候来电"],
    "billing": ["电费账单看不懂", "电表走得太快", "电费比上个月高了很多也没人解释"],
    "hall": ["排队时间太长", "营业厅人太多了"],
    "connection": ["办理流程太繁琐", "跑了好几趟还没办完"],
    "any": ["一直没有进度反馈", "打了好几次电话才有人处理", "问题还是没解决"],
}
MID = ["总体还行", "还可以吧", "一般般", "希望下次能快一点"]


@dataclass
class World:
    size: str
    seed: int
    region: pd.DataFrame
    team: pd.DataFrame
    staff: pd.DataFrame
    customer: pd.DataFrame
    outage_event: pd.DataFrame
    ticket: pd.DataFrame
    contact: pd.DataFrame
    invitation: pd.DataFrame
    response: pd.DataFrame
    answer: pd.DataFrame
    follow_up: pd.DataFrame
    truth: dict[str, Any] = field(default_factory=dict)

    TABLES = ("region", "team", "staff", "customer", "outage_event", "ticket", "contact", "invitation", "response",
              "answer", "follow_up")

    def frames(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in self.TABLES}

    def counts(self) -> dict[str, int]:
        return {name: len(df) for name, df in self.frames().items()}


# --- helpers ------------------------------------------------------------------------------------------------------


def _ts(minutes: np.ndarray) -> np.ndarray:
    """Local minutes since the window start -> naive UTC datetime64[us] in whole seconds (NaN -> NaT)."""
    m = np.asarray(minutes, dtype=float)
    us = np.where(np.isnan(m), 0, np.round(m * 60.0) * 1e6).astype(np.int64)
    out = (WINDOW_START_LOCAL - UTC_OFFSET) + us.astype("timedelta64[us]")
    return np.where(np.isnan(m), np.datetime64("NaT", "us"), out)


_NONE = np.array(None, dtype=object)


def _or_none(cond: np.ndarray, values: ArrayLike) -> np.ndarray:
    """``values`` where ``cond`` holds, else None: an object array (as ``np.where(cond, values, None)``)."""
    return np.where(cond, values, _NONE)


def _lognormal(rng: np.random.Generator, median: np.ndarray | float, sigma: np.ndarray | float,
               n: int) -> np.ndarray:
    return np.exp(np.log(median) + sigma * rng.standard_normal(n))


def _names(rng: np.random.Generator, n: int) -> np.ndarray:
    sur = np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n)]
    g1 = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)]
    g2 = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)]
    two = rng.random(n) < 0.7
    return np.where(two, np.char.add(np.char.add(sur, g1), g2), np.char.add(sur, g1)).astype(object)


def _digits(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    return np.char.zfill(rng.integers(0, 10**width, n).astype(str), width)


def _code(prefix: str, ids: np.ndarray, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.asarray(ids).astype(str), width)).astype(object)


def _pick(rng: np.random.Generator, choices: list[str], p: list[float] | np.ndarray, n: int) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.array(choices, dtype=object)[rng.choice(len(choices), size=n, p=p / p.sum())]


def _block_pick(rng: np.random.Generator, pool: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """For each element's pool id, a uniformly random member index of that pool (-1 where the pool is empty)."""
    size = sizes[pool]
    idx = starts[pool] + np.floor(rng.random(len(pool)) * np.maximum(size, 1)).astype(np.int64)
    return np.where(size > 0, idx, -1)


def _select_regions(size: str) -> pd.DataFrame:
    reg = reference.regions()
    wanted = SIZES[size]["counties"]
    county = reg[reg["level"] == "county"]["code"]
    keep = np.zeros(len(county), dtype=bool)
    for w in wanted:
        keep |= county.str.startswith(w[:-1]).to_numpy() if w.endswith("*") else (county == w).to_numpy()
    counties = set(county[keep])
    cities = {c[:4] for c in counties}
    sel = reg[(reg["level"] == "province") | reg["code"].isin(cities) | reg["code"].isin(counties)
              | reg["parent_code"].isin(counties)].reset_index(drop=True)
    sel.insert(0, "id", np.arange(1, len(sel) + 1))
    idmap = dict(zip(sel["code"], sel["id"], strict=False))
    sel["parent_id"] = sel["parent_code"].map(idmap).astype("Int64")
    paths: dict[str, str] = {}
    out = []
    for code, parent, rid in zip(sel["code"], sel["parent_code"], sel["id"], strict=False):
        paths[code] = (paths[parent] if isinstance(parent, str) else "/") + f"{rid}/"
        out.append(paths[code])
    sel["path"] = out
    sel["kind"] = sel["kind"].where(sel["kind"].notna(), None)
    return sel


# --- generation ---------------------------------------------------------------------------------------------------


def generate(size: str, seed: int) -> World:
    """Build the demo world of ``size`` (S, M, L, XL) deterministically from ``seed``."""
    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}; expected one of {', '.join(SIZES)}")
    rng = np.random.default_rng([seed, 20251126])
    world, planted, tinfo = _build(rng, SIZES[size], size, seed, _select_regions(size))
    world.truth = _truth(world, planted, tinfo)
    return world


def _build(rng: np.random.Generator, cfg: dict[str, Any], size: str, seed: int, region: pd.DataFrame,
           plant: bool = True) -> tuple[World, dict[str, Any], dict[str, Any]]:
    """One world (or one chunk of a world, demo.xl) over the counties in ``region``, ids from 1; returns the
    world without its truth, the planted staff and the per-ticket generation info. ``plant=False`` plants no staff
    (chunks other than the one that carries the planted staff)."""
    stations = region[(region["level"] == "station") & (region["kind"] == "supply_station")].reset_index(drop=True)
    halls = region[(region["level"] == "station") & (region["kind"] == "hall")].reset_index(drop=True)
    counties = region[region["level"] == "county"].reset_index(drop=True)
    county_pos = {rid: i for i, rid in enumerate(counties["id"])}
    st_county = stations["parent_id"].map(county_pos).to_numpy()
    hall_county = halls["parent_id"].map(county_pos).to_numpy()
    st_area = stations["area_class"].to_numpy()

    team, staff, pools = _make_staff(rng, cfg["staff"], stations, halls, counties, st_county, hall_county)
    planted = _plant_staff(rng, staff, stations) if plant else _no_plant(staff)

    n_tickets = cfg["tickets"]
    customer = _make_customers(rng, max(n_tickets // 2, 1000), stations, region)
    outage = _make_outages(rng, n_tickets, stations, counties, st_county)
    ticket, tinfo = _make_tickets(rng, n_tickets, customer, stations, st_area, st_county, halls, hall_county,
                                  outage, staff, pools, planted)
    # surveys first: they move most tickets of the "few surveys" staff to peers, which the contacts then follow
    invitation, response, answer, follow_up = _make_surveys(rng, cfg["responses"], ticket, tinfo, customer, staff,
                                                            planted, pools, st_county)
    contact = _make_contacts(rng, cfg["contacts"], ticket, tinfo, customer, stations, st_county, halls, hall_county,
                             outage, pools)
    world = World(size, seed, region[["id", "code", "name_zh", "name_en", "level", "kind", "parent_id", "path",
                                      "area_class", "customers"]], team, staff, customer, outage, ticket, contact,
                  invitation, response, answer, follow_up)
    return world, planted, tinfo


def _make_staff(rng: np.random.Generator, n_staff: int, stations: pd.DataFrame, halls: pd.DataFrame,
                counties: pd.DataFrame, st_county: np.ndarray, hall_county: np.ndarray
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Teams: a repair crew per supply station, a clerk team per hall, an agent team and an account-manager team per
    county. Staff are spread by customers served (at least one per team)."""
    st_cust = stations["customers"].to_numpy(float)
    county_cust = np.bincount(st_county, weights=st_cust, minlength=len(counties))
    units = [  # (role, team suffix, region ids, weights, parent county index)
        ("crew", "抢修班", stations["id"].to_numpy(), st_cust, st_county),
        ("clerk", "营业班", halls["id"].to_numpy(), county_cust[hall_county] / np.maximum(np.bincount(hall_county, minlength=len(counties))[hall_county], 1), hall_county),
        ("agent", "客服班", counties["id"].to_numpy(), county_cust, np.arange(len(counties))),
        ("account_manager", "客户经理班", counties["id"].to_numpy(), county_cust, np.arange(len(counties))),
    ]
    shares = {"crew": 0.55, "clerk": 0.15, "agent": 0.20, "account_manager": 0.10}
    names_by_region = dict(zip(pd.concat([stations["id"], halls["id"], counties["id"]]),
                               pd.concat([stations["name_zh"], halls["name_zh"], counties["name_zh"]]), strict=False))
    t_rows, s_parts = [], []
    pools: dict[str, Any] = {}
    team_id = 0
    staff_start = 0
    for role, suffix, rids, w, cidx in units:
        k = len(rids)
        n_role = max(int(round(n_staff * shares[role])), k)
        counts = 1 + rng.multinomial(n_role - k, w / w.sum())
        tids = np.arange(team_id + 1, team_id + k + 1)
        team_id += k
        short = [str(names_by_region[r]).replace("国网", "").replace("供电公司", "") for r in rids]
        t_rows.append(pd.DataFrame({"id": tids, "code": _code("TM", tids, 5),
                                    "name": [f"{s}{suffix}" for s in short], "role": role, "region_id": rids}))
        total = int(counts.sum())
        sid = np.arange(staff_start + 1, staff_start + total + 1)
        unit = np.repeat(np.arange(k), counts)
        s_parts.append(pd.DataFrame({"id": sid, "role": role, "team_id": tids[unit], "region_id": rids[unit],
                                     "county_idx": cidx[unit]}))
        starts = staff_start + np.concatenate([[0], np.cumsum(counts)[:-1]])
        pools[role] = {"starts": starts, "sizes": counts, "unit_region": rids, "unit_county": cidx}
        staff_start += total
    team = pd.concat(t_rows, ignore_index=True)
    staff = pd.concat(s_parts, ignore_index=True)
    staff["code"] = _code("SD", staff["id"].to_numpy(), 6)
    staff["name"] = _names(rng, len(staff))
    staff["active"] = rng.random(len(staff)) > 0.03
    lead = staff.groupby("team_id")["id"].min()
    team["lead_staff_id"] = team["id"].map(lead).astype("Int64")
    staff = staff[["id", "code", "name", "role", "team_id", "region_id", "active", "county_idx"]]
    return team, staff, pools


def _plant_staff(rng: np.random.Generator, staff: pd.DataFrame, stations: pd.DataFrame) -> dict[str, Any]:
    """3 best and 3 worst (one of each with only 2-3 surveys), plus a crew of a remote station with effect 0."""
    remote_ids = set(stations.loc[stations["area_class"] == "remote", "id"])
    crews = staff[(staff["role"] == "crew") & staff["active"]]
    agents = staff[(staff["role"] == "agent") & staff["active"]]
    non_remote_crews = crews[~crews["region_id"].isin(remote_ids)]
    # prefer members of multi-person pools, so their tickets can be moved to peers
    multi = non_remote_crews[non_remote_crews.groupby("team_id")["id"].transform("size") >= 3]
    crew_pick = (multi if len(multi) >= 4 else non_remote_crews).sample(4, random_state=int(rng.integers(1 << 31)))
    agent_multi = agents[agents.groupby("team_id")["id"].transform("size") >= 3]
    agent_pick = (agent_multi if len(agent_multi) >= 2 else agents).sample(2, random_state=int(rng.integers(1 << 31)))
    best = [int(crew_pick.iloc[0]["id"]), int(crew_pick.iloc[1]["id"]), int(agent_pick.iloc[0]["id"])]
    worst = [int(crew_pick.iloc[2]["id"]), int(crew_pick.iloc[3]["id"]), int(agent_pick.iloc[1]["id"])]
    few = [best[1], worst[1]]  # keep only 2-3 surveys for these two
    remote_crew = crews[crews["region_id"].isin(remote_ids)]
    remote_team = None
    if len(remote_crew):
        remote_team = int(remote_crew.groupby("team_id")["id"].size().sort_values(ascending=False).index[0])
    effect = np.zeros(len(staff) + 1)
    effect[best] = STAFF_EFFECT
    effect[worst] = -STAFF_EFFECT
    return {"best": best, "worst": worst, "few_surveys": few, "few_target": {best[1]: 2, worst[1]: 3},
            "remote_team_id": remote_team, "effect": effect}


def _no_plant(staff: pd.DataFrame) -> dict[str, Any]:
    return {"best": [], "worst": [], "few_surveys": [], "few_target": {}, "remote_team_id": None,
            "effect": np.zeros(len(staff) + 1)}


def _make_customers(rng: np.random.Generator, n: int, stations: pd.DataFrame, region: pd.DataFrame) -> pd.DataFrame:
    w = stations["customers"].to_numpy(float)
    st = rng.choice(len(stations), size=n, p=w / w.sum())
    ids = np.arange(1, n + 1)
    acct = 3_700_000_000 + np.cumsum(rng.integers(1, 40, n))
    acct = acct[rng.permutation(n)]
    seg = _pick(rng, ["residential", "commercial", "industrial", "agricultural"], [0.88, 0.07, 0.02, 0.03], n)
    phone = np.char.add(np.char.add("1", rng.integers(3, 10, n).astype(str)), _digits(rng, n, 9))
    county_of = dict(zip(region["id"], region["parent_id"], strict=False))
    names = dict(zip(region["id"], region["name_zh"], strict=False))
    code_of = dict(zip(region["id"], region["code"], strict=False))
    cities = {"3701": "济南市", "3706": "烟台市", "3713": "临沂市"}
    city_rows = region[region["level"] == "city"]
    for c, nm in zip(city_rows["code"], city_rows["name_zh"], strict=False):  # the other cities (XL)
        cities.setdefault(str(c), str(nm).replace("国网", "").replace("供电公司", "") + "市")
    county_name = {cid: str(names[cid]).split("市")[-1].replace("国网", "").replace("供电公司", "")
                   for cid in set(county_of[s] for s in stations["id"])}
    st_ids = stations["id"].to_numpy()
    st_town = stations["name_zh"].str.replace("供电所", "", regex=False).to_numpy()
    st_urban = (stations["area_class"] == "urban").to_numpy()
    prefix = np.array([f"山东省{cities.get(code_of[s][:4], '')}{county_name[county_of[s]]}{t}"
                       for s, t in zip(st_ids, st_town, strict=False)], dtype=object)
    road = np.array(ROAD, dtype=object)[rng.integers(0, len(ROAD), n)]
    village = np.array(VILLAGE, dtype=object)[rng.integers(0, len(VILLAGE), n)]
    num = rng.integers(1, 300, n).astype(str).astype(object)
    place = np.where(st_urban[st], road, village)
    address = prefix[st] + place + num + "号"
    online_pref = rng.random(n)
    pref = np.where(online_pref < 0.5, "app", np.where(online_pref < 0.7, "wechat", np.where(online_pref < 0.8, "hotline",
                    _or_none(online_pref < 0.85, "alipay"))))
    return pd.DataFrame({"id": ids, "account_no": acct.astype(str).astype(object), "name": _names(rng, n),
                         "phone": phone.astype(object), "address": address, "segment": seg,
                         "vulnerable": rng.random(n) < 0.08, "opted_out": rng.random(n) < 0.02,
                         "preferred_channel": pref, "region_id": st_ids[st], "station_idx": st})


def _make_outages(rng: np.random.Generator, n_tickets: int, stations: pd.DataFrame, counties: pd.DataFrame,
                  st_county: np.ndarray) -> pd.DataFrame:
    """Summer thunderstorm days (June-August, both years) hit 1-3 counties; each hit station gets an event.
    A few equipment failures happen all year."""
    day_month = (WINDOW_START_LOCAL.astype("datetime64[D]") + np.arange(N_DAYS)).astype("datetime64[M]")
    months = (day_month.astype(int) % 12) + 1
    summer_days = np.flatnonzero(np.isin(months, STORM_MONTHS))
    years = (day_month.astype("datetime64[Y]").astype(int) + 1970)[summer_days]
    storm_days = np.concatenate([np.sort(rng.choice(summer_days[years == y], STORM_DAYS_PER_SUMMER, replace=False))
                                 for y in np.unique(years)])
    n_counties = len(counties)
    rows = []
    for d in storm_days:  # <= 28 iterations: storm days, not rows
        hit = rng.choice(n_counties, size=min(n_counties, int(rng.integers(1, 4))), replace=False)
        cand = np.flatnonzero(np.isin(st_county, hit))
        k = max(1, int(len(cand) * rng.uniform(0.2, 0.5)))
        st = rng.choice(cand, size=k, replace=False)
        start = d * 1440 + rng.uniform(13 * 60, 20 * 60, k)
        rows.append(pd.DataFrame({"station_idx": st, "start_min": start,
                                  "cause": np.where(rng.random(k) < 0.85, "thunderstorm", "wind")}))
    n_equip = max(4, n_tickets // 5000)
    eq_st = rng.integers(0, len(stations), n_equip)
    rows.append(pd.DataFrame({"station_idx": eq_st, "start_min": rng.uniform(0, WINDOW_MINUTES - 2880, n_equip),
                              "cause": "equipment"}))
    ev = pd.concat(rows, ignore_index=True).sort_values("start_min", kind="stable").reset_index(drop=True)
    n = len(ev)
    ev["duration_min"] = _lognormal(rng, np.where(ev["cause"] == "equipment", 150.0, 320.0), 0.5, n)
    cust = stations["customers"].to_numpy()[ev["station_idx"]]
    ev["customers_affected"] = np.maximum(50, (cust * rng.uniform(0.05, 0.35, n)).astype(int))
    ev.insert(0, "id", np.arange(1, n + 1))
    ev["code"] = [f"OE{y}-{i:05d}" for y, i in zip(
        ((WINDOW_START_LOCAL + (ev["start_min"].to_numpy() * 60e6).astype("timedelta64[us]")).astype("datetime64[Y]").astype(int) + 1970),
        ev["id"], strict=False)]
    ev["region_id"] = stations["id"].to_numpy()[ev["station_idx"]]
    ev["started_at"] = _ts(ev["start_min"].to_numpy())
    ev["ended_at"] = _ts((ev["start_min"] + ev["duration_min"]).to_numpy())
    return ev[["id", "code", "region_id", "started_at", "ended_at", "cause", "customers_affected", "station_idx",
               "start_min", "duration_min"]]


def _day_hour(minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    day = np.floor(minutes / 1440).astype(np.int64)
    hour = np.floor((minutes % 1440) / 60).astype(np.int64)
    weekday = (day + FIRST_WEEKDAY) % 7
    month_idx = ((WINDOW_START_LOCAL.astype("datetime64[D]") + day).astype("datetime64[M]")
                 - WINDOW_START_LOCAL.astype("datetime64[M]")).astype(np.int64)
    return day, hour, weekday, month_idx


N_MONTHS = int((WINDOW_END_LOCAL.astype("datetime64[M]") - WINDOW_START_LOCAL.astype("datetime64[M]")).astype(int)) + 1
HOUR_W = np.array([0.4, 0.3, 0.2, 0.2, 0.3, 0.6, 1.5, 3.0, 5.5, 7.0, 7.2, 6.8, 5.5, 5.8, 6.5, 6.5, 6.0, 5.5, 4.5,
                   4.0, 3.5, 2.5, 1.5, 0.8])
HALL_HOUR_W = np.array([0, 0, 0, 0, 0, 0, 0, 0, 4.0, 10.0, 10.0, 6.0, 3.0, 4.0, 5.0, 5.0, 4.0, 0, 0, 0, 0, 0, 0, 0])


def _times(rng: np.random.Generator, n: int, day_w: np.ndarray, hour_w: np.ndarray) -> np.ndarray:
    day = rng.choice(len(day_w), size=n, p=day_w / day_w.sum())
    hour = rng.choice(24, size=n, p=hour_w / hour_w.sum())
    return day * 1440.0 + hour * 60.0 + rng.uniform(0, 60, n)


def _make_tickets(rng: np.random.Generator, n: int, customer: pd.DataFrame, stations: pd.DataFrame,
                  st_area: np.ndarray, st_county: np.ndarray, halls: pd.DataFrame, hall_county: np.ndarray,
                  outage: pd.DataFrame, staff: pd.DataFrame, pools: dict[str, Any], planted: dict[str, Any]
                  ) -> tuple[pd.DataFrame, dict[str, Any]]:
    # outage-linked repairs: ~6 % of tickets, spread over events by customers affected
    n_out = int(n * 0.06)
    ca = outage["customers_affected"].to_numpy(float) * (outage["cause"] != "equipment").to_numpy() + 1.0
    ev_idx = rng.choice(len(outage), size=n_out, p=ca / ca.sum())
    n_base = n - n_out
    services = list(SERVICE_MIX)
    svc = _pick(rng, services, list(SERVICE_MIX.values()), n_base)
    day_idx = np.arange(N_DAYS)
    dmonth = ((WINDOW_START_LOCAL.astype("datetime64[D]") + day_idx).astype("datetime64[M]").astype(int) % 12) + 1
    dweek = (day_idx + FIRST_WEEKDAY) % 7
    base_w = np.where(dweek >= 5, 0.7, 1.0) * (1 + 0.15 * day_idx / N_DAYS)
    repair_w = base_w * np.where(np.isin(dmonth, STORM_MONTHS), 1.5, 1.0)
    created = _times(rng, n_base, base_w, HOUR_W)
    is_rep = svc == "repair"
    created[is_rep] = _times(rng, int(is_rep.sum()), repair_w, HOUR_W)
    # customers: a random customer; outage tickets: a customer of the event's station
    cust_idx = rng.integers(0, len(customer), n_base)
    cust_station = customer["station_idx"].to_numpy()
    order = np.argsort(cust_station, kind="stable")
    st_start = np.searchsorted(cust_station[order], np.arange(len(stations)))
    st_count = np.bincount(cust_station, minlength=len(stations))
    ev_st = outage["station_idx"].to_numpy()[ev_idx]
    pick = st_start[ev_st] + np.floor(rng.random(n_out) * np.maximum(st_count[ev_st], 1)).astype(np.int64)
    out_cust = np.where(st_count[ev_st] > 0, order[np.minimum(pick, len(order) - 1)], rng.integers(0, len(customer), n_out))
    out_created = outage["start_min"].to_numpy()[ev_idx] + rng.exponential(45, n_out)

    svc = np.concatenate([svc, np.full(n_out, "repair", dtype=object)])
    created = np.concatenate([created, out_created])
    cust_idx = np.concatenate([cust_idx, out_cust])
    event = np.concatenate([np.full(n_base, -1), ev_idx])
    # chronological order, so ids grow with time
    o = np.argsort(created, kind="stable")
    svc, created, cust_idx, event = svc[o], created[o], cust_idx[o], event[o]
    keep = created < WINDOW_MINUTES - 1
    svc, created, cust_idx, event = svc[keep], created[keep], cust_idx[keep], event[keep]
    n = len(svc)
    st = cust_station[cust_idx]
    area = st_area[st]
    county = st_county[st]
    _, hour, weekday, month_idx = _day_hour(created)

    # channel: online share rises month by month
    online_p = ONLINE_SHARE[0] + (ONLINE_SHARE[1] - ONLINE_SHARE[0]) * month_idx / max(N_MONTHS - 1, 1)
    online = rng.random(n) < online_p
    on_ch = _pick(rng, ["app", "wechat", "alipay", "web"], [0.55, 0.25, 0.12, 0.08], n)
    u = rng.random(n)
    off_ch = np.where(u < 0.60, "hotline", np.where(u < 0.85, "hall", "rural_point")).astype(object)
    off_ch = np.where((off_ch == "rural_point") & (area == "urban"), "hotline", off_ch)
    off_ch = np.where((svc == "repair") & (off_ch == "hall"), "hotline", off_ch)
    off_ch = np.where(event >= 0, np.where(rng.random(n) < 0.85, "hotline", "rural_point"), off_ch)
    channel = np.where(online & (event < 0), on_ch, off_ch)
    channel = np.where((channel == "rural_point") & (area == "urban"), "hotline", channel)
    # hall visits happen in opening hours
    hall_mask = channel == "hall"
    if hall_mask.any():
        day = np.floor(created[hall_mask] / 1440)
        wk = (day + FIRST_WEEKDAY) % 7
        day = np.where(wk == 6, day - 1, day)  # Sundays move to Saturday
        created[hall_mask] = day * 1440 + rng.choice(24, hall_mask.sum(), p=HALL_HOUR_W / HALL_HOUR_W.sum()) * 60 \
            + rng.uniform(0, 60, hall_mask.sum())

    # staff by role: crews for field work and rural points, clerks for halls, account managers for connections,
    # agents for the rest
    is_conn = np.char.startswith(svc.astype(str), "connection")
    field_svc = np.isin(svc, ["repair", "meter", "reconnection"])
    role = np.where(channel == "hall", "clerk", np.where(is_conn, "account_manager",
                    np.where(field_svc | (channel == "rural_point"), "crew", "agent")))
    staff_idx = np.full(n, -1, dtype=np.int64)
    hall_of_county = np.full(st_county.max() + 1, -1)
    hall_of_county[hall_county[::-1]] = np.arange(len(hall_county))[::-1]  # first hall of each county
    hall_unit = np.full(n, -1)
    for r in ("crew", "clerk", "agent", "account_manager"):
        m = role == r
        if not m.any():
            continue
        p = pools[r]
        if r == "crew":
            unit = st[m]
        elif r == "clerk":
            # one of the county's halls
            hc = county[m]
            n_h = np.bincount(hall_county, minlength=st_county.max() + 1)[hc]
            unit = hall_of_county[hc] + np.floor(rng.random(m.sum()) * np.maximum(n_h, 1)).astype(int)
            hall_unit[m] = unit
        else:
            unit = county[m]
        staff_idx[m] = _block_pick(rng, unit, p["starts"], p["sizes"])
    staff_id = staff["id"].to_numpy()[staff_idx]
    team_id = staff["team_id"].to_numpy()[staff_idx]

    # durations (minutes)
    limit = np.vectorize(ARRIVAL_LIMIT.get, otypes=[float])(area)
    med = np.vectorize(lambda a: ARRIVAL[a][0], otypes=[float])(area)
    sig = np.vectorize(lambda a: ARRIVAL[a][1], otypes=[float])(area)
    in_event = event >= 0
    arrival = np.full(n, np.nan)
    rep = svc == "repair"
    arrival[rep] = _lognormal(rng, med[rep] * np.where(in_event[rep], OUTAGE_ARRIVAL_FACTOR, 1.0), sig[rep], rep.sum())
    site = np.isin(svc, ["meter", "connection_residential", "connection_lv", "connection_hv", "connection_hv_dual"])
    arrival[site] = _lognormal(rng, 1.2 * 1440, 0.6, site.sum())
    rmed = np.vectorize(lambda a: RESTORATION[a][0], otypes=[float])(area)
    rsig = np.vectorize(lambda a: RESTORATION[a][1], otypes=[float])(area)
    res_med = {"billing": 90.0, "payment": 20.0, "inquiry": 30.0, "reconnection": 240.0, "complaint": 4.5 * 1440,
               "meter": 3.5 * 1440, "connection_residential": 4.0 * 1440, "connection_lv": 5.5 * 1440,
               "connection_hv": 24.0 * 1440, "connection_hv_dual": 36.0 * 1440}
    resolve = np.full(n, np.nan)
    resolve[rep] = arrival[rep] + _lognormal(rng, rmed[rep], rsig[rep], rep.sum())
    for s, m_ in res_med.items():
        mm = svc == s
        resolve[mm] = _lognormal(rng, m_, 0.8, mm.sum())
    resolve[site] = np.maximum(resolve[site], arrival[site] + 30)
    long_open = rng.random(n) < 0.002
    resolve[long_open] *= rng.uniform(40, 120, long_open.sum())
    fr_med = np.where(np.isin(channel, ["hotline", "hall", "rural_point"]), 3.0, 25.0)
    fr_med = np.where(svc == "complaint", 300.0, fr_med)
    first_resp = np.minimum(_lognormal(rng, fr_med, 0.7, n), resolve * 0.8)
    close_lag = _lognormal(rng, 1440.0, 0.7, n)
    weather = rep & ((in_event & (rng.random(n) < 0.5)) | (~in_event & (rng.random(n) < 0.02)))
    traffic = rep & ~weather & (rng.random(n) < 0.02)
    cust_side = rep & ~weather & ~traffic & (rng.random(n) < 0.03)
    exception = np.where(weather, "weather", np.where(traffic, "traffic", _or_none(cust_side, "customer_side")))
    arrival[weather] *= 1.3
    resolve[weather] += (arrival[weather] * 0.3)

    # progress updates: long tickets usually get some, but 30 % get none; short ones rarely need any
    long_t = resolve > LONG_TICKET_MIN
    no_upd = long_t & (rng.random(n) < NO_UPDATE_SHARE)
    updates = np.where(long_t, 1 + rng.poisson(1.5, n), rng.poisson(0.2, n))
    updates = np.where(no_upd, 0, updates)
    reopen = np.where(rng.random(n) < np.where(no_upd, 0.10, 0.03), np.where(rng.random(n) < 0.15, 2, 1), 0)
    substantiated = _or_none(svc == "complaint", rng.random(n) < 0.35)

    now = WINDOW_MINUTES
    t_first = created + first_resp
    t_arr = created + arrival
    t_res = created + resolve
    t_close = t_res + close_lag
    status = np.where(t_close <= now, "closed", np.where(t_res <= now, "resolved",
                      np.where(np.nan_to_num(t_first, nan=np.inf) <= now, "in_progress", "open")))
    t_close = np.where(status == "closed", t_close, np.nan)
    t_res = np.where(np.isin(status, ["closed", "resolved"]), t_res, np.nan)
    t_arr = np.where(t_arr <= now, t_arr, np.nan)
    t_first = np.where(t_first <= now, t_first, np.nan)
    updated = np.fmax(np.fmax(created, np.nan_to_num(t_first, nan=0)), np.fmax(np.nan_to_num(t_res, nan=0),
                                                                            np.nan_to_num(t_close, nan=0)))
    ids = np.arange(1, n + 1)
    yymm = (WINDOW_START_LOCAL.astype("datetime64[D]") + np.floor(created / 1440).astype(int)).astype(str)
    ext = np.char.add(np.char.add("GD", np.char.replace(yymm, "-", "")), np.char.zfill(ids.astype(str), 8))
    ticket = pd.DataFrame({
        "id": ids, "external_no": ext.astype(object), "customer_id": customer["id"].to_numpy()[cust_idx],
        "region_id": stations["id"].to_numpy()[st], "channel": channel, "service_type": svc,
        "staff_id": staff_id, "team_id": team_id,
        "created_at": _ts(created), "first_response_at": _ts(t_first),
        "arrived_at": _ts(t_arr), "resolved_at": _ts(t_res), "closed_at": _ts(t_close),
        "status": status, "exception_reason": exception,
        "outage_event_id": _or_none(in_event, outage["id"].to_numpy()[np.maximum(event, 0)]),
        "reopen_count": reopen, "progress_updates": updates, "substantiated": substantiated,
        "updated_at": _ts(updated),
    })
    info = {"created": created, "area": area, "station_idx": st, "county_idx": county, "staff_idx": staff_idx,
            "hall_unit": hall_unit, "cust_idx": cust_idx, "arrival": arrival, "limit": limit, "resolve": resolve,
            "no_upd": no_upd, "long": long_t, "reopen": reopen, "t_close": t_close, "t_res": t_res,
            "event": event, "role": role, "hour": hour, "weekday": weekday, "month_idx": month_idx}
    return ticket, info


def _make_contacts(rng: np.random.Generator, n_target: int, ticket: pd.DataFrame, info: dict[str, Any],
                   customer: pd.DataFrame, stations: pd.DataFrame, st_county: np.ndarray, halls: pd.DataFrame,
                   hall_county: np.ndarray, outage: pd.DataFrame, pools: dict[str, Any]) -> pd.DataFrame:
    ch = ticket["channel"].to_numpy()
    created = info["created"]
    # (a) the contact that opened each ticket (not rural points: those are walk-ins to the station, no queue system)
    a = np.flatnonzero(ch != "rural_point")
    # (b) repeat contacts of the same customer and category within 7 days, for tickets not resolved at first contact
    unresolved = (info["reopen"] > 0) | (info["no_upd"]) | (np.nan_to_num(info["resolve"], nan=1e9) > 3 * 1440)
    b = np.flatnonzero(unresolved & (rng.random(len(ch)) < 0.45))
    b_delay = rng.uniform(0.1, 7.0, len(b)) * 1440
    # (c) mass-outage calls (no ticket)
    n_c = int(n_target * 0.05)
    ca = outage["customers_affected"].to_numpy(float) * (outage["cause"] != "equipment").to_numpy() + 1.0
    c_ev = rng.choice(len(outage), size=n_c, p=ca / ca.sum())
    # (d) stand-alone contacts (enquiries answered at once, abandoned calls), some with a repeat within 7 days
    n_d = max(n_target - len(a) - len(b) - n_c, 0)
    n_d_rep = int(n_d * 0.08)
    n_d0 = n_d - n_d_rep

    d_time = _times(rng, n_d0, np.ones(N_DAYS), HOUR_W)
    d_cat = _pick(rng, ["inquiry", "billing", "payment", "repair", "complaint", "meter"],
                  [0.40, 0.28, 0.14, 0.10, 0.04, 0.04], n_d0)
    d_cust = rng.integers(0, len(customer), n_d0)
    rep_src = rng.choice(n_d0, size=min(n_d_rep, n_d0), replace=False) if n_d0 else np.zeros(0, dtype=int)
    d_time = np.concatenate([d_time, d_time[rep_src] + rng.uniform(0.05, 7.0, len(rep_src)) * 1440])
    d_cat = np.concatenate([d_cat, d_cat[rep_src]])
    d_cust = np.concatenate([d_cust, d_cust[rep_src]])
    _, _, _, d_month = _day_hour(d_time)
    online_p = ONLINE_SHARE[0] + (ONLINE_SHARE[1] - ONLINE_SHARE[0]) * d_month / max(N_MONTHS - 1, 1)
    d_online = rng.random(len(d_time)) < online_p
    d_ch = np.where(d_online, _pick(rng, ["app", "wechat", "alipay", "web"], [0.55, 0.25, 0.12, 0.08], len(d_time)),
                    np.where(rng.random(len(d_time)) < 0.75, "hotline", "hall"))

    cust_station = customer["station_idx"].to_numpy()
    ticket_ids = ticket["id"].to_numpy()
    ticket_cat = ticket["service_type"].to_numpy()
    ev_st = outage["station_idx"].to_numpy()[c_ev]
    c_time = outage["start_min"].to_numpy()[c_ev] + rng.exponential(60, n_c)
    c_cust_st = ev_st
    parts = {
        "src": np.concatenate([np.zeros(len(a)), np.ones(len(b)), np.full(n_c, 2), np.full(len(d_time), 3)]),
        "t": np.concatenate([created[a], created[b] + b_delay, c_time, d_time]),
        "cat": np.concatenate([ticket_cat[a], ticket_cat[b], np.full(n_c, "repair", dtype=object), d_cat]),
        "cust": np.concatenate([info["cust_idx"][a], info["cust_idx"][b], np.full(n_c, -1), d_cust]),
        "station": np.concatenate([info["station_idx"][a], info["station_idx"][b], c_cust_st, cust_station[d_cust]]),
        "ticket": np.concatenate([ticket_ids[a], np.where(rng.random(len(b)) < 0.6, ticket_ids[b], 0),
                                  np.zeros(n_c), np.zeros(len(d_time))]).astype(np.int64),
        "ch": np.concatenate([ch[a], np.where(rng.random(len(b)) < 0.7, "hotline", ch[b]),
                              np.full(n_c, "hotline", dtype=object), d_ch]),
        "event": np.concatenate([info["event"][a], info["event"][b], c_ev, np.full(len(d_time), -1)]),
    }
    # outage callers: a customer of the hit station where one exists
    order = np.argsort(cust_station, kind="stable")
    st_start = np.searchsorted(cust_station[order], np.arange(len(stations)))
    st_count = np.bincount(cust_station, minlength=len(stations))
    miss = parts["cust"] < 0
    stn = parts["station"][miss]
    pk = st_start[stn] + np.floor(rng.random(miss.sum()) * np.maximum(st_count[stn], 1)).astype(np.int64)
    parts["cust"][miss] = np.where(st_count[stn] > 0, order[np.minimum(pk, len(order) - 1)], -1)
    t_ = parts["t"]
    keep = t_ < WINDOW_MINUTES - 30
    parts = {k: v[keep] for k, v in parts.items()}
    o = np.argsort(parts["t"], kind="stable")
    parts = {k: v[o] for k, v in parts.items()}
    n = len(parts["t"])
    chn = parts["ch"]
    # hall visits happen in opening hours at one of the county's halls
    hall = chn == "hall"
    day = np.floor(parts["t"] / 1440)
    t = parts["t"].copy()
    if hall.any():
        hd = day[hall]
        wk = (hd + FIRST_WEEKDAY) % 7
        hd = np.where(wk == 6, hd - 1, hd)
        t[hall] = np.where(parts["src"][hall] == 0, t[hall],
                           hd * 1440 + rng.choice(24, hall.sum(), p=HALL_HOUR_W / HALL_HOUR_W.sum()) * 60
                           + rng.uniform(0, 60, hall.sum()))
    _, hour, weekday, _ = _day_hour(t)
    in_event = parts["event"] >= 0
    # waits (seconds)
    wait = np.zeros(n)
    hot = chn == "hotline"
    wait[hot] = _lognormal(rng, HOTLINE_WAIT["median_s"] * np.where(in_event[hot], HOTLINE_WAIT["outage_factor"], 1.0),
                           HOTLINE_WAIT["sigma"], hot.sum())
    chat = np.isin(chn, ["app", "wechat", "alipay", "web"])
    wait[chat] = _lognormal(rng, CHAT_WAIT["median_s"], CHAT_WAIT["sigma"], chat.sum())
    peak = (hour >= HALL_WAIT["peak_hours"][0]) & (hour < HALL_WAIT["peak_hours"][1])
    hall_f = np.where(peak, HALL_WAIT["peak_factor"], 1.0) * np.where(weekday == 0, HALL_WAIT["monday_factor"], 1.0)
    wait[hall] = 60 * _lognormal(rng, HALL_WAIT["median_min"] * hall_f[hall], HALL_WAIT["sigma"], hall.sum())
    # abandoned: only contacts that did not open a ticket; a caller hangs up when patience runs out
    patience = rng.exponential(HOTLINE_WAIT["patience_mean_s"], n)
    can_abandon = (parts["src"] >= 2) & (hot | chat)
    abandoned = can_abandon & (patience < wait)
    handle = np.where(hot, _lognormal(rng, 240, 0.6, n), np.where(chat, _lognormal(rng, 420, 0.7, n),
                      _lognormal(rng, 600, 0.6, n)))
    # the contact that opened a ticket is answered when the ticket is created
    queued = t - wait / 60.0
    answered = np.where(abandoned, np.nan, t)
    ended = np.where(abandoned, queued + patience / 60.0, t + handle / 60.0)
    handle = np.where(abandoned, np.nan, handle)
    # region: the hall for hall visits, else the customer's station
    stid = stations["id"].to_numpy()
    county = st_county[parts["station"]]
    hall_of_county = np.full(st_county.max() + 1, -1)
    hall_of_county[hall_county[::-1]] = np.arange(len(hall_county))[::-1]
    n_h = np.bincount(hall_county, minlength=st_county.max() + 1)
    hunit = hall_of_county[county] + np.floor(rng.random(n) * np.maximum(n_h[county], 1)).astype(int)
    region_id = np.where(hall, halls["id"].to_numpy()[np.maximum(hunit, 0)], stid[parts["station"]])
    # staff: the ticket's handler for the opening contact, else an agent (calls, chats) or a clerk (hall)
    staff_idx = np.full(n, -1, dtype=np.int64)
    m_ag = ~hall & ~abandoned
    staff_idx[m_ag] = _block_pick(rng, county[m_ag], pools["agent"]["starts"], pools["agent"]["sizes"])
    m_cl = hall
    staff_idx[m_cl] = _block_pick(rng, np.maximum(hunit[m_cl], 0), pools["clerk"]["starts"], pools["clerk"]["sizes"])
    opening = parts["src"] == 0
    staff_idx[opening] = info["staff_idx"][parts["ticket"][opening] - 1]
    ids = np.arange(1, n + 1)
    contact = pd.DataFrame({
        "id": ids, "external_no": _code("CT", ids, 10),
        "customer_id": _or_none(parts["cust"] >= 0, customer["id"].to_numpy()[np.maximum(parts["cust"], 0)]),
        "region_id": region_id, "channel": chn, "category": parts["cat"],
        "queued_at": _ts(queued), "answered_at": _ts(answered), "ended_at": _ts(ended),
        "handle_seconds": np.round(handle, 1), "abandoned": abandoned,
        "ticket_id": _or_none(parts["ticket"] > 0, parts["ticket"]),
        "staff_id": _or_none(staff_idx >= 0, staff_idx + 1),  # staff ids are positions + 1
        "outage_event_id": _or_none(in_event, outage["id"].to_numpy()[np.maximum(parts["event"], 0)]),
    })
    contact["wait_s"] = wait
    return contact


def _make_surveys(rng: np.random.Generator, n_resp: int, ticket: pd.DataFrame, info: dict[str, Any],
                  customer: pd.DataFrame, staff: pd.DataFrame, planted: dict[str, Any], pools: dict[str, Any],
                  st_county: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    len(ticket)
    cust_idx = info["cust_idx"]
    closed = ~np.isnan(info["t_close"])
    eligible = closed & ~customer["opted_out"].to_numpy()[cust_idx] & (info["t_close"] < WINDOW_MINUTES - 60)
    elig = np.flatnonzero(eligible)
    n_inv = min(len(elig), int(n_resp / RESPONSE_RATE))
    inv_t = np.sort(rng.choice(elig, size=n_inv, replace=False))
    svc = ticket["service_type"].to_numpy()
    ch = ticket["channel"].to_numpy()
    u = rng.random(n_inv)
    inv_ch = np.where(ch[inv_t] == "hall", np.where(u < 0.7, "qr", "sms"),
                      np.where(u < 0.55, "sms", np.where(u < 0.80, "wechat", "ivr"))).astype(object)
    inv_created = info["t_close"][inv_t] + rng.uniform(5, 120, n_inv)
    delivered = rng.random(n_inv) > 0.03
    responded = np.zeros(n_inv, dtype=bool)
    cand = np.flatnonzero(delivered)
    k = min(n_resp, len(cand))
    responded[np.sort(rng.choice(cand, size=k, replace=False))] = True
    sub_delay = np.where(inv_ch == "ivr", rng.uniform(1, 10, n_inv), _lognormal(rng, 180, 1.0, n_inv))
    submitted = np.minimum(inv_created + sub_delay, inv_created + 7 * 1440 - 1)
    responded &= submitted < WINDOW_MINUTES
    # planted staff with very few surveys: move all but a few of their surveyed tickets to a peer in the same pool
    staff_idx = info["staff_idx"].copy()
    for sid, keep_n in planted["few_target"].items():
        s_pos = sid - 1
        mine = np.flatnonzero(responded & (staff_idx[inv_t] == s_pos))
        movers = mine[keep_n:]
        team = staff["team_id"].to_numpy()
        peers = np.flatnonzero((team == team[s_pos]) & (np.arange(len(team)) != s_pos))
        if len(peers) == 0:
            responded[movers] = False
        else:
            staff_idx[inv_t[movers]] = peers[np.arange(len(movers)) % len(peers)]
        # also most of their unsurveyed tickets (a part-timer), keeping a handful
        other = np.flatnonzero(staff_idx == s_pos)
        surveyed_t = set(inv_t[responded & (staff_idx[inv_t] == s_pos)].tolist())
        other = np.array([t for t in other.tolist() if t not in surveyed_t], dtype=np.int64)
        if len(peers) and len(other) > 6:
            mv = other[6:]
            staff_idx[mv] = peers[np.arange(len(mv)) % len(peers)]
    ticket["staff_id"] = _or_none(staff_idx >= 0, staff_idx + 1)
    ticket["team_id"] = _or_none(staff_idx >= 0, staff["team_id"].to_numpy()[np.maximum(staff_idx, 0)])
    info["staff_idx"] = staff_idx

    r_t = inv_t[responded]  # ticket positions of the responses
    n = len(r_t)
    info["area"][r_t]
    s = svc[r_t]
    effect = planted["effect"][np.maximum(staff_idx[r_t], 0) + 1] * (staff_idx[r_t] >= 0)
    # dimension latents (standard-ish scale, higher is better)
    arr_ratio = np.where(np.isnan(info["arrival"][r_t]) | np.isnan(info["limit"][r_t]) | (s != "repair"), 0.0,
                         np.log(np.maximum(info["arrival"][r_t], 1) / info["limit"][r_t]))
    slow = np.log1p(np.maximum(np.nan_to_num(info["resolve"][r_t], nan=0) / 1440.0 - 3.0, 0))
    long_noupd = info["no_upd"][r_t].astype(float)
    reopened = (info["reopen"][r_t] > 0).astype(float)
    billing_hot = ((s == "billing") & (ch[r_t] == "hotline")).astype(float)
    online = np.isin(ch[r_t], ["app", "wechat", "alipay", "web"]).astype(float)
    in_event = (info["event"][r_t] >= 0).astype(float)
    z = rng.standard_normal((len(DIMENSIONS), n)) * 0.6
    dims = {
        "transparency": 0.3 - NO_UPDATE_PENALTY * long_noupd + 0.1 * np.minimum(ticket["progress_updates"].to_numpy()[r_t], 3) + z[0],
        "responsiveness": 0.3 - 1.4 * arr_ratio - 0.5 * slow + z[1],
        "reliability": 0.3 - 1.2 * reopened - 0.4 * in_event + z[2],
        "assurance": 0.3 + 0.9 * effect + z[3],
        "bill_clarity": 0.3 - 1.0 * (s == "billing") - 0.3 * (s == "payment") + z[4],
        "convenience": 0.2 + 0.3 * online - 0.3 * (ch[r_t] == "hall") + z[5],
    }
    latent = 0.35 + sum(DIM_WEIGHTS[d] * dims[d] for d in DIMENSIONS) + 0.5 * effect - HOTLINE_BILLING_PENALTY * billing_hot \
        + rng.standard_normal(n) * 0.35
    csat = np.clip(np.digitize(latent, [-0.9, -0.45, -0.05, 0.45]) + 1, 1, 5)
    nps = np.clip(np.round(7.6 + 2.2 * latent + rng.standard_normal(n) * 0.9), 0, 10).astype(int)
    ces = np.clip(np.round(5.2 + 0.9 * (dims["convenience"] + dims["responsiveness"]) / 2 + 0.6 * latent
                           + rng.standard_normal(n) * 0.7), 1, 7).astype(int)
    fcr = (reopened == 0) & (rng.random(n) < np.where(long_noupd > 0, 0.55, 0.85))
    # comments (~10 %), consistent with the score
    has_comment = rng.random(n) < COMMENT_SHARE
    comment = _comments(rng, csat, s, ch[r_t], has_comment)
    ids = np.arange(1, n + 1)
    inv_ids = np.arange(1, n_inv + 1)
    resp_inv_id = inv_ids[responded]
    r_channel = inv_ch[responded]
    skey = np.vectorize(SURVEY_KEY.get, otypes=[object])(s)
    token = _hex_tokens(rng, n_inv)
    invitation = pd.DataFrame({
        "id": inv_ids, "token_hash": token, "survey_key": np.vectorize(SURVEY_KEY.get, otypes=[object])(svc[inv_t]),
        "survey_version": 1, "ticket_id": ticket["id"].to_numpy()[inv_t],
        "customer_id": customer["id"].to_numpy()[cust_idx[inv_t]], "region_id": ticket["region_id"].to_numpy()[inv_t],
        "channel": inv_ch, "created_at": _ts(inv_created), "expires_at": _ts(inv_created + 7 * 1440),
        "delivered": delivered, "reminded_at": _ts(np.where(~responded & delivered & (rng.random(n_inv) < 0.5),
                                                            inv_created + 1440, np.nan)),
        "used_at": _ts(np.where(responded, submitted, np.nan)), "reusable": False,
    })
    sub = submitted[responded]
    response = pd.DataFrame({
        "id": ids, "invitation_id": resp_inv_id, "ticket_id": ticket["id"].to_numpy()[r_t],
        "external_no": np.where(r_channel == "ivr", _code("IVR", ids, 9), _code("SV", ids, 9)),
        "region_id": ticket["region_id"].to_numpy()[r_t], "channel": r_channel, "survey_key": skey,
        "survey_version": 1, "submitted_at": _ts(sub), "csat": csat, "nps": nps, "ces": ces, "fcr": fcr,
        "comment": comment, "language": "zh-CN",
    })
    # answers: the dimension items asked for the service type
    svc_codes = list(DIMENSIONS_BY_SERVICE)
    asked = np.zeros((len(svc_codes), len(DIMENSIONS)), dtype=bool)
    for i, sc in enumerate(svc_codes):
        for d in DIMENSIONS_BY_SERVICE[sc]:
            asked[i, DIMENSIONS.index(d)] = True
    s_pos = pd.Series(s).map({c: i for i, c in enumerate(svc_codes)}).to_numpy()
    mask = asked[s_pos]  # (n, n_dims)
    vals = np.stack([np.clip(np.round(3.9 + 0.85 * dims[d] + 0.25 * latent), 1, 5) for d in DIMENSIONS], axis=1)
    rr, dd = np.nonzero(mask)
    answer = pd.DataFrame({"id": np.arange(1, len(rr) + 1), "response_id": ids[rr],
                           "item_key": np.array([f"dim_{d}" for d in DIMENSIONS], dtype=object)[dd],
                           "dimension": np.array(DIMENSIONS, dtype=object)[dd], "value_num": vals[rr, dd],
                           "value_text": None})
    follow_up = _follow_ups(rng, response, r_t, sub, ticket, info, pools, st_county)
    response["staff_idx"] = staff_idx[r_t]
    response["latent"] = latent
    return invitation, response, answer, follow_up


def _hex_tokens(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    pairs = np.array([f"{i:02x}" for i in range(256)], dtype="<U2")
    return np.ascontiguousarray(pairs[raw]).view("<U64").ravel().astype(object)


def _comments(rng: np.random.Generator, csat: np.ndarray, svc: np.ndarray, ch: np.ndarray,
              has: np.ndarray) -> np.ndarray:
    n = len(csat)
    topic = np.where(svc == "repair", "repair", np.where(np.isin(svc, ["billing", "payment"]), "billing",
                     np.where(ch == "hall", "hall", np.where(np.char.startswith(svc.astype(str), "connection"),
                                                            "connection", "any"))))
    online = np.isin(ch, ["app", "wechat", "alipay", "web"])
    out = np.full(n, None, dtype=object)
    pos_pool = {t: POS.get(t, []) + POS["any"] for t in ["repair", "billing", "hall", "connection", "any"]}
    neg_pool = {t: NEG.get(t, []) + NEG["any"] for t in ["repair", "billing", "hall", "connection", "any"]}
    for t in pos_pool:  # a handful of topic groups, not rows
        for good, pool_map in ((True, pos_pool), (False, neg_pool)):
            m = has & (topic == t) & ((csat >= 4) if good else (csat <= 2))
            k = int(m.sum())
            if not k:
                continue
            pool = list(pool_map[t]) + (POS["online"] if good else [])
            arr = np.array(pool, dtype=object)
            first = arr[rng.integers(0, len(arr), k)]
            second = arr[rng.integers(0, len(arr), k)]
            two = (rng.random(k) < 0.5) & (first != second)
            out[m] = np.where(two, first + "，" + second + "。", first + "。")
        m = has & (topic == t) & (csat == 3)
        k = int(m.sum())
        if k:
            mid = np.array(MID, dtype=object)[rng.integers(0, len(MID), k)]
            neg = np.array(neg_pool[t], dtype=object)[rng.integers(0, len(neg_pool[t]), k)]
            out[m] = mid + "，" + neg + "。"
    _ = online
    return out


def _follow_ups(rng: np.random.Generator, response: pd.DataFrame, r_t: np.ndarray, sub: np.ndarray,
                ticket: pd.DataFrame, info: dict[str, Any], pools: dict[str, Any], st_county: np.ndarray
                ) -> pd.DataFrame:
    csat = response["csat"].to_numpy()
    nps = response["nps"].to_numpy()
    fcr = response["fcr"].to_numpy()
    comment = response["comment"].fillna("").astype(str)
    topic = comment.str.contains("投诉|没解决|太慢|不通知", regex=True).to_numpy()
    reason = np.where(csat <= 2, "low_csat", np.where(nps <= 6, "detractor", np.where(~fcr, "unresolved",
                      _or_none(topic, "complaint_topic"))))
    m = reason != None  # noqa: E711 - elementwise on an object array
    idx = np.flatnonzero(m)
    n = len(idx)
    sev = np.where(reason[idx] == "low_csat", "high", np.where(reason[idx] == "complaint_topic", "low", "medium"))
    created = sub[idx] + rng.uniform(1, 30, n)
    due = created + np.where(sev == "high", 1440, np.where(sev == "medium", 3 * 1440, 5 * 1440))
    u = rng.random(n)
    on_time = u < 0.72
    work = np.where(on_time, rng.uniform(0.1, 0.95, n), rng.uniform(1.1, 3.0, n)) * (due - created)
    closed_t = created + work
    done = closed_t < WINDOW_MINUTES
    escalate = ~done & (WINDOW_MINUTES > due)
    status = np.where(done, "closed", np.where(escalate, "escalated", np.where(rng.random(n) < 0.5, "in_progress",
                                                                                "open")))
    v = rng.random(n)
    outcome = _or_none(done, np.where(v < 0.70, "resolved", np.where(v < 0.88, "unresolved", "unreachable")))
    recovered = np.where(done & (outcome == "resolved"), rng.random(n) < 0.55, _or_none(done, False))
    rec_score = np.where(recovered == True, rng.integers(4, 6, n),  # noqa: E712
                         _or_none(done & (outcome != "unreachable"), rng.integers(1, 4, n)))
    t_pos = r_t[idx]
    county = info["county_idx"][t_pos]
    owner = _block_pick(rng, county, pools["agent"]["starts"], pools["agent"]["sizes"])
    ids = np.arange(1, n + 1)
    return pd.DataFrame({
        "id": ids, "response_id": response["id"].to_numpy()[idx], "ticket_id": ticket["id"].to_numpy()[t_pos],
        "customer_id": ticket["customer_id"].to_numpy()[t_pos], "region_id": ticket["region_id"].to_numpy()[t_pos],
        "reason": reason[idx], "severity": sev, "owner_staff_id": _or_none(owner >= 0, owner + 1),
        "created_at": _ts(created), "due_at": _ts(due), "status": status,
        "escalation_level": np.where(status == "escalated", 1, 0),
        "closed_at": _ts(np.where(done, closed_t, np.nan)), "outcome": outcome, "recovered": recovered,
        "recovery_score": rec_score, "proactive": False, "risk_score": None, "notes": None,
    })


# --- ground truth -------------------------------------------------------------------------------------------------


def _truth(world: World, planted: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    t = world.ticket
    staff = world.staff
    code_of = dict(zip(staff["id"], staff["code"], strict=False))
    resp = world.response
    rep = (t["service_type"] == "repair").to_numpy() & t["arrived_at"].notna().to_numpy()
    arr_min = ((t["arrived_at"] - t["created_at"]).dt.total_seconds() / 60).to_numpy()
    area = info["area"]
    arrival_obs = {a: {"median_min": round(float(np.median(arr_min[rep & (area == a)])), 2),
                       "within_limit": round(float(np.mean(arr_min[rep & (area == a)] <= ARRIVAL_LIMIT[a])), 4),
                       "n": int((rep & (area == a)).sum())}
                   for a in ARRIVAL if (rep & (area == a)).any()}
    sid = resp["staff_idx"].to_numpy() + 1
    csat = resp["csat"].to_numpy()
    def mean_csat(ids: list[int]) -> dict[str, Any]:
        m = np.isin(sid, ids)
        return {"mean_csat": round(float(csat[m].mean()), 3) if m.any() else None, "n": int(m.sum())}
    per_staff = {code_of[s]: {**mean_csat([s]), "role": str(staff.loc[staff["id"] == s, "role"].iloc[0])}
                 for s in planted["best"] + planted["worst"]}
    remote_team = planted["remote_team_id"]
    remote_staff = staff.loc[staff["team_id"] == remote_team, "id"].tolist() if remote_team else []
    online = np.isin(t["channel"], ["app", "wechat", "alipay", "web"])
    month = info["month_idx"]
    contact = world.contact
    hall = contact["channel"].to_numpy() == "hall"
    q = contact["queued_at"].to_numpy()[hall]
    local_h = ((q + UTC_OFFSET).astype("datetime64[h]").astype(np.int64) % 24)
    wait_min = contact["wait_s"].to_numpy()[hall] / 60
    hot = (contact["channel"] == "hotline").to_numpy()
    hot_ans = hot & ~contact["abandoned"].to_numpy()
    return {
        "generator_version": GENERATOR_VERSION, "size": world.size, "seed": world.seed,
        "window": {"start_local": "2025-01-01", "end_local_inclusive": "2026-11-25", "zone": "Asia/Shanghai",
                   "stored": "naive UTC"},
        "regions": {"counties": SIZES[world.size]["counties"], "n_regions": len(world.region),
                    "area_classes": world.region[world.region["level"] == "station"]["area_class"].value_counts().to_dict()},
        "counts": world.counts(),
        "effects": {
            "repair_arrival": {"params_median_min_logsd": ARRIVAL, "limits_min": ARRIVAL_LIMIT,
                               "outage_factor": OUTAGE_ARRIVAL_FACTOR, "observed": arrival_obs,
                               "expect": "rural and remote attainment clearly below urban"},
            "restoration_after_arrival": RESTORATION,
            "thunderstorms": {"months": STORM_MONTHS, "storm_days_per_summer": STORM_DAYS_PER_SUMMER,
                              "outage_events": int(len(world.outage_event)),
                              "linked_tickets": int(t["outage_event_id"].notna().sum()),
                              "linked_contacts": int(contact["outage_event_id"].notna().sum()),
                              "weather_exceptions": int((t["exception_reason"] == "weather").sum())},
            "hall_congestion": {**HALL_WAIT,
                                "observed_mean_wait_min_peak": round(float(wait_min[(local_h >= 9) & (local_h < 11)].mean()), 2) if hall.any() else None,
                                "observed_mean_wait_min_offpeak": round(float(wait_min[(local_h < 9) | (local_h >= 11)].mean()), 2) if hall.any() else None},
            "hotline": {**HOTLINE_WAIT, "observed_service_level_30s": round(float(
                (contact["wait_s"].to_numpy()[hot_ans] <= 30).sum() / max(hot.sum(), 1)), 4)},
            "online_share": {"planned_first_last_month": ONLINE_SHARE,
                             "observed_first_month": round(float(online[month == 0].mean()), 4),
                             "observed_last_month": round(float(online[month == month.max()].mean()), 4)},
            "satisfaction": {
                "top_driver": "missing progress updates on long tickets (progress_updates = 0, open > 4 h)",
                "top_driver_dimension": "transparency",
                "dimension_weights_on_latent": DIM_WEIGHTS, "no_update_penalty": NO_UPDATE_PENALTY,
                "no_update_share_of_long_tickets": NO_UPDATE_SHARE, "long_ticket_minutes": LONG_TICKET_MIN,
                "second_driver": "delay (repair arrival vs limit, slow resolution) -> responsiveness",
                "hotline_billing_penalty": HOTLINE_BILLING_PENALTY,
                "hotline_billing_expect": "billing tickets via the hotline have the highest detractor share",
                "csat_top2_overall": round(float((csat >= 4).mean()), 4),
            },
            "staff": {
                "effect_on_latent": STAFF_EFFECT,
                "best": [code_of[s] for s in planted["best"]], "worst": [code_of[s] for s in planted["worst"]],
                "few_surveys": [code_of[s] for s in planted["few_surveys"]],
                "observed": per_staff, "peers_mean_csat": round(float(csat[~np.isin(sid, planted["best"] + planted["worst"])].mean()), 3),
                "remote_crew_team_code": str(world.team.loc[world.team["id"] == remote_team, "code"].iloc[0]) if remote_team else None,
                "remote_crew_staff": [code_of[s] for s in remote_staff],
                "remote_crew_effect": 0.0,
                "remote_crew_expect": "raw CSAT below average; average once area class is accounted for",
            },
            "comments_share": COMMENT_SHARE,
            "response_rate_target": RESPONSE_RATE,
            "open_work": {"open_or_in_progress": int(t["status"].isin(["open", "in_progress"]).sum()),
                          "resolved_not_closed": int((t["status"] == "resolved").sum()),
                          "long_open_share": 0.002},
        },
    }


# --- loading ------------------------------------------------------------------------------------------------------

COLUMNS = {
    "region": ["id", "code", "name_zh", "name_en", "level", "kind", "parent_id", "path", "area_class", "customers"],
    "team": ["id", "code", "name", "role", "region_id", "lead_staff_id"],
    "staff": ["id", "code", "name", "role", "team_id", "region_id", "active"],
    "customer": ["id", "account_no", "name", "phone", "address", "segment", "vulnerable", "opted_out",
                 "preferred_channel", "region_id"],
    "outage_event": ["id", "code", "region_id", "started_at", "ended_at", "cause", "customers_affected"],
    "ticket": ["id", "external_no", "customer_id", "region_id", "channel", "service_type", "staff_id", "team_id",
               "created_at", "first_response_at", "arrived_at", "resolved_at", "closed_at", "status",
               "exception_reason", "outage_event_id", "reopen_count", "progress_updates", "substantiated",
               "updated_at"],
    "contact": ["id", "external_no", "customer_id", "region_id", "channel", "category", "queued_at", "answered_at",
                "ended_at", "handle_seconds", "abandoned", "ticket_id", "staff_id", "outage_event_id"],
    "invitation": ["id", "token_hash", "survey_key", "survey_version", "ticket_id", "customer_id", "region_id",
                   "channel", "created_at", "expires_at", "delivered", "reminded_at", "used_at", "reusable"],
    "response": ["id", "invitation_id", "ticket_id", "external_no", "region_id", "channel", "survey_key",
                 "survey_version", "submitted_at", "csat", "nps", "ces", "fcr", "comment", "language"],
    "answer": ["id", "response_id", "item_key", "dimension", "value_num", "value_text"],
    "follow_up": ["id", "response_id", "ticket_id", "customer_id", "region_id", "reason", "severity",
                  "owner_staff_id", "created_at", "due_at", "status", "escalation_level", "closed_at", "outcome",
                  "recovered", "recovery_score", "proactive", "risk_score", "notes"],
}
# Tables a demo world fills (and everything that points at them, e.g. quality reviews or proactive follow-ups
# added later), children first; derived from the schema so a new table can never block a replace.
_KEEP_ON_REPLACE = {"sla_policy", "survey_definition", "site_setting", "audit_event", "fact_version"}


def _delete_order() -> list[str]:
    from data.models import Base

    return [t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in _KEEP_ON_REPLACE]
SETTING_KEYS = ("demo.size", "demo.seed", "demo.generator_version", "demo.accounts", "demo.layout")


def _column_values(s: pd.Series) -> list[Any]:
    """A column as Python values for the DBAPI: timestamps as SQLAlchemy's SQLite text, NaN/NaT/NA as None."""
    if pd.api.types.is_datetime64_any_dtype(s):
        arr = s.to_numpy().astype("datetime64[us]")
        nat = np.isnat(arr)
        txt = np.datetime_as_string(arr, unit="us").astype("S26")
        b = txt.view(np.uint8).reshape(-1, 26).copy()
        b[:, 10] = ord(" ")
        out = b.view("S26").ravel().astype("U26").astype(object)
        out[nat] = None
        return out.tolist()
    if s.dtype == bool or pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(int).tolist() if not s.isna().any() else [None if pd.isna(v) else int(bool(v)) for v in s]
    if pd.api.types.is_float_dtype(s.dtype):
        arr = s.to_numpy(dtype=float)
        out = arr.astype(object)
        out[np.isnan(arr)] = None
        return out.tolist()
    if pd.api.types.is_integer_dtype(s.dtype):
        if s.isna().any():
            return [None if pd.isna(v) else int(v) for v in s.to_numpy(dtype=object)]
        return s.to_numpy(dtype=np.int64).tolist()
    vals = s.to_numpy(dtype=object)
    na = pd.isna(vals)
    if na.any():
        vals = vals.copy()
        vals[na] = None
    # numpy scalars inside object columns -> Python
    return [v.item() if isinstance(v, np.generic) else v for v in vals.tolist()]


def _rows(df: pd.DataFrame, cols: list[str]) -> list[tuple[Any, ...]]:
    return list(zip(*(_column_values(df[c]) for c in cols), strict=False))


def _driver_connection(raw: PoolProxiedConnection) -> Any:
    """The driver's own connection (sqlite3 / psycopg) behind a pooled connection."""
    dbapi = raw.driver_connection
    if dbapi is None:  # only a closed or invalidated pooled connection has none
        raise RuntimeError("the pooled database connection is closed")
    return dbapi


def _sqlite_load(engine: Engine, world: World, tokens: Sequence[tuple[str, str, str]] = ()) -> None:
    raw = engine.raw_connection()
    try:
        dbapi = _driver_connection(raw)
        cur = dbapi.cursor()
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute("PRAGMA cache_size=-400000")
        cur.execute("PRAGMA temp_store=MEMORY")
        dbapi.commit()
        cur.execute("BEGIN")
        try:
            for table in world.TABLES:
                df = getattr(world, table)
                cols = COLUMNS[table]
                indexes = cur.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name=? "
                                      "AND sql IS NOT NULL", (table,)).fetchall()
                big = len(df) > 50_000
                if big:  # build secondary indexes once after the insert
                    for name, _sql in indexes:
                        cur.execute(f'DROP INDEX "{name}"')
                sql = f'INSERT INTO "{table}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})'
                cur.executemany(sql, _rows(df, cols))
                if big:
                    for _name, idx_sql in indexes:
                        cur.execute(idx_sql)
            cur.execute(snapshot.INVALIDATE_SQL)  # same transaction: every fact snapshot partition goes stale
            cur.executemany(snapshot.PLAN_SQL.format("?"), tokens)  # ... except those written from `world`
            dbapi.commit()
        except BaseException:
            dbapi.rollback()
            raise
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("ANALYZE")
        dbapi.commit()
    finally:
        raw.close()


def _pg_load(engine: Engine, world: World, tokens: Sequence[tuple[str, str, str]] = ()) -> None:
    raw = engine.raw_connection()
    try:
        dbapi = _driver_connection(raw)
        try:
            with dbapi.cursor() as cur:
                for table in world.TABLES:
                    df = getattr(world, table)
                    cols = COLUMNS[table]
                    chunk = 500_000
                    with cur.copy(f'COPY "{table}" ({", ".join(cols)}) FROM STDIN (FORMAT csv, NULL \'\\N\')') as cp:
                        for start in range(0, len(df), chunk):
                            part = df.iloc[start:start + chunk][cols].copy()
                            for c in cols:
                                s = part[c]
                                if pd.api.types.is_datetime64_any_dtype(s):
                                    part[c] = s.dt.strftime("%Y-%m-%d %H:%M:%S.%f")
                                elif pd.api.types.is_bool_dtype(s.dtype) or (s.dtype == object and s.map(
                                        lambda v: isinstance(v, (bool, np.bool_))).any()):
                                    part[c] = s.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                                                    else ("t" if v else "f"))
                            buf = io.StringIO()
                            part.to_csv(buf, header=False, index=False, na_rep="\\N")
                            cp.write(buf.getvalue())
                for table in world.TABLES:  # keep identity sequences ahead of the explicit ids
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM \"{table}\"), 1))")
                cur.execute(snapshot.INVALIDATE_SQL)  # same transaction: every fact snapshot partition goes stale
                cur.executemany(snapshot.PLAN_SQL.format("%s"), tokens)  # ... except those written from `world`
            dbapi.commit()
            with dbapi.cursor() as cur:
                dbapi.autocommit = True
                cur.execute("ANALYZE")
                dbapi.autocommit = False
        except BaseException:
            dbapi.rollback()
            raise
    finally:
        raw.close()


def groundtruth_path(engine: Engine) -> Path:
    """Where the ground truth of the demo in this database lives: ``<db stem>.groundtruth.json`` beside a SQLite
    file; for PostgreSQL ``data/groundtruth-<dbname>[-<schema>].json`` (the schema only when it is not public)."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        return db.with_name(f"{db.stem}.groundtruth.json")
    name = url.database or "memory"
    if url.get_backend_name() == "postgresql":
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        if schema and schema != "public":
            name = f"{name}-{schema}"
    return DATA_DIR / f"groundtruth-{name}.json"


def load(engine: Engine, world: World, truth_path: Path | None = None) -> Path:
    """Bulk insert ``world`` into an empty demo database in one transaction, ANALYZE, and write the ground truth.
    Returns the ground-truth path."""
    facts = _fact_tables(world) if snapshot.enabled() else {}
    tokens = snapshot.plan({kind: months for kind, (_t, months) in facts.items()})
    # The Parquet files are written while the rows load (the writer releases the GIL); they only count once the
    # load commits their tokens, so a failed load leaves files no reader will take for current.
    writer = threading.Thread(target=_write_snapshot, args=(engine, facts, tokens), name="demo-snapshot")
    writer.start()
    try:
        if engine.url.get_backend_name() == "sqlite":
            _sqlite_load(engine, world, tokens)
        else:
            _pg_load(engine, world, tokens)
    finally:
        writer.join()
    path = truth_path or groundtruth_path(engine)
    path.write_text(json.dumps(world.truth, ensure_ascii=False, indent=2, default=_json_default), encoding="utf-8")
    return path


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (set, tuple)):
        return list(v)
    raise TypeError(type(v))


# --- idempotent entry point ---------------------------------------------------------------------------------------


def demo_accounts(world: World) -> list[tuple[str, str, str]]:
    """The demo's login accounts (role, username, password). Passwords are DEMO-ONLY: derived from the seed, printed
    by ``python -m demo`` and stored in site_setting so they can be shown again; never use them in production."""
    return _accounts(world.region, world.seed)


def _accounts(region: pd.DataFrame, seed: int) -> list[tuple[str, str, str]]:
    counties = region[region["level"] == "county"]
    remote_counties = region[(region["area_class"] == "remote")]["parent_id"].dropna().astype(int)
    pick = counties[counties["id"].isin(remote_counties)] if len(remote_counties) else counties
    county_code = str(pick.iloc[0]["code"])
    users = [("admin", "admin"), ("hr", "hr"), ("manager", "manager"), ("manager", f"manager_{county_code}")]
    return [(role, name, _password(seed, name)) for role, name in users]


def _password(seed: int, username: str) -> str:
    digest = hashlib.sha256(f"gridcx-demo-{seed}-{username}".encode()).digest()
    word = base64.b32encode(digest).decode()[:12].lower()
    return f"demo-{word[:4]}-{word[4:8]}-{word[8:]}"


# --- the fact snapshot, straight from the world's frames ----------------------------------------------------------


def _fact_tables(world: World) -> dict[str, tuple[pa.Table, np.ndarray]]:
    """Each fact kind's stored columns (data.snapshot) from the world's frames, with each row's month: the same
    values the SQL readers give for these rows (tests compare the two on the demo world)."""
    segment = world.customer.set_index("id")["segment"]
    t = world.ticket
    tickets = pd.DataFrame({
        "id": t["id"], "external_no": t["external_no"], "region_id": t["region_id"], "channel": t["channel"],
        "service_type": t["service_type"], "segment": t["customer_id"].map(segment), "staff_id": t["staff_id"],
        "team_id": t["team_id"], "customer_id": t["customer_id"], "status": t["status"],
        "exception_reason": t["exception_reason"], "outage": t["outage_event_id"].notna(),
        "reopen_count": t["reopen_count"], "progress_updates": t["progress_updates"],
        "substantiated": t["substantiated"], "sla_met": None, **{c: t[c] for c in (
            "created_at", "first_response_at", "arrived_at", "resolved_at", "closed_at")}})
    c = world.contact
    contacts = pd.DataFrame({
        "id": c["id"], "region_id": c["region_id"], "channel": c["channel"], "category": c["category"],
        "segment": c["customer_id"].map(segment), "customer_id": c["customer_id"], "ticket_id": c["ticket_id"],
        "staff_id": c["staff_id"], "abandoned": c["abandoned"], "handle_seconds": c["handle_seconds"],
        "outage": c["outage_event_id"].notna(), "sla_met": None, "queued_at": c["queued_at"], "answered_at": c["answered_at"],
        "ended_at": c["ended_at"]})
    r = world.response
    tk = t.set_index("id").reindex(r["ticket_id"].to_numpy())
    responses = pd.DataFrame({
        "id": r["id"].to_numpy(), "ticket_id": r["ticket_id"].to_numpy(), "region_id": r["region_id"].to_numpy(),
        "survey_channel": r["channel"].to_numpy(), "channel": tk["channel"].to_numpy(),
        "service_type": tk["service_type"].to_numpy(),
        "segment": tk["customer_id"].map(segment).to_numpy(), "staff_id": tk["staff_id"].to_numpy(),
        "team_id": tk["team_id"].to_numpy(), "csat": r["csat"].to_numpy(), "nps": r["nps"].to_numpy(),
        "ces": r["ces"].to_numpy(), "fcr": r["fcr"].to_numpy(), "comment": r["comment"].to_numpy(),
        "survey_key": r["survey_key"].to_numpy(), "submitted_at": r["submitted_at"].to_numpy(),
        "ticket_created_at": tk["created_at"].to_numpy(), "arrived_at": tk["arrived_at"].to_numpy(),
        "resolved_at": tk["resolved_at"].to_numpy(), "progress_updates": tk["progress_updates"].to_numpy()})
    a = world.answer
    submitted = r.set_index("id")["submitted_at"]
    answers = pd.DataFrame({"response_id": a["response_id"], "item_key": a["item_key"], "dimension": a["dimension"],
                            "value_num": a["value_num"]})
    f = world.follow_up
    follow_ups = f[["id", "response_id", "ticket_id", "region_id", "reason", "severity", "owner_staff_id", "status",
                    "escalation_level", "outcome", "recovered", "recovery_score", "proactive", "risk_score",
                    "created_at", "due_at", "closed_at"]]
    out = {}
    for kind, df, order, when in (
            ("ticket", tickets, t["id"], t["created_at"]), ("contact", contacts, c["id"], c["queued_at"]),
            ("response", responses, r["id"], r["submitted_at"]),
            ("answer", answers, a["id"], a["response_id"].map(submitted)),
            ("follow_up", follow_ups, f["id"], f["created_at"])):
        pos = np.argsort(order.to_numpy(), kind="stable")
        df = df.iloc[pos].reset_index(drop=True)
        months = np.datetime_as_string(pd.to_datetime(when).to_numpy()[pos].astype("datetime64[M]"), unit="M")
        table = _arrow_table(df)
        if kind == "contact":  # the world holds every contact of its customers: each one's next contact
            from data.repositories.facts import with_next_contact

            table = with_next_contact(table)
        out[kind] = (table, months)
    return out


def _arrow_table(df: pd.DataFrame) -> pa.Table:
    cols = {}
    for name in df.columns:
        s = df[name]
        if pd.api.types.is_datetime64_any_dtype(s):
            arr = pa.array(s.to_numpy().astype("datetime64[us]"), pa.timestamp("us"))
            cols[name] = arr.cast(pa.timestamp("us", tz="UTC"))
        elif s.dtype == object:
            vals = s.to_numpy(dtype=object, copy=True)
            vals[pd.isna(vals)] = None
            cols[name] = pa.array([v.item() if isinstance(v, np.generic) else v for v in vals])
        else:
            cols[name] = pa.array(s, from_pandas=True)
    return pa.table(cols)


def _write_snapshot(engine: Engine, facts: dict[str, tuple[pa.Table, np.ndarray]],
                    tokens: list[tuple[str, str, str]]) -> None:
    """Write the partitions the load committed tokens for (readers rebuild any month written since)."""
    try:
        for kind, month, version in tokens:
            table, months = facts[kind]
            snapshot.write_planned(engine, kind, month, table.filter(pa.array(months == month)), version)
    except OSError as exc:
        logging.getLogger(__name__).warning("fact snapshot not written: %s", exc)

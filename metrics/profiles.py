"""Customer profile summary and the outreach-channel rule (issue 9). Pure: pandas / numpy.

Summary per customer: service history (work orders, complaints, survey answers, dissatisfied share), channel use
(work orders plus stand-alone contacts), the most-used ("actual") channel beside the preferred one, the share of
offline use (hotline, hall, rural service point) and the vulnerable flag.

Outreach channel rule (first match wins; codes sms | ivr | wechat | visit):

====  ==========================================================================  =======
 #    when                                                                        channel
====  ==========================================================================  =======
 1    vulnerable and in a rural or remote area                                    visit
 2    vulnerable                                                                  ivr
 3    relies on offline service and mostly uses the rural service point          visit
 4    relies on offline service (offline share ≥ 0.6 of at least 2 uses)          ivr
 5    prefers or mostly uses WeChat                                               wechat
 6    otherwise                                                                   sms
====  ==========================================================================  =======
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OFFLINE = ("hotline", "hall", "rural_point")
OUTREACH = ("sms", "ivr", "wechat", "visit")
OFFLINE_SHARE = 0.6
MIN_USES = 2


def summarise_profiles(profiles: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per customer: the repository columns plus ``uses``, ``actual_channel``, ``offline_share``,
    ``rural_point_share``, ``relies_offline``, ``channel_mismatch`` (preferred ≠ most used) and
    ``dissatisfied_share``."""
    cust = profiles["customers"].copy()
    ch = profiles["channels"]
    if len(ch):
        wide = ch.pivot_table(index="customer_id", columns="channel", values="n", aggfunc="sum", fill_value=0)
        uses = wide.sum(axis=1)
        offline = wide[[c for c in OFFLINE if c in wide.columns]].sum(axis=1)
        rural = wide["rural_point"] if "rural_point" in wide.columns else pd.Series(0, index=wide.index)
        actual = wide.idxmax(axis=1)
        agg = pd.DataFrame({"uses": uses, "offline_share": offline / uses, "rural_point_share": rural / uses,
                            "actual_channel": actual}).reset_index()
    else:
        agg = pd.DataFrame(columns=["customer_id", "uses", "offline_share", "rural_point_share", "actual_channel"])
    out = cust.merge(agg, on="customer_id", how="left")
    out["uses"] = out["uses"].fillna(0).astype(int)
    out["offline_share"] = out["offline_share"].astype(float)
    out["rural_point_share"] = out["rural_point_share"].astype(float)
    out["relies_offline"] = (out["uses"] >= MIN_USES) & (out["offline_share"].fillna(0) >= OFFLINE_SHARE)
    pref = out["preferred_channel"]
    out["channel_mismatch"] = pref.notna() & out["actual_channel"].notna() & (pref != out["actual_channel"])
    with np.errstate(divide="ignore", invalid="ignore"):
        out["dissatisfied_share"] = np.where(out["responses"] > 0, out["dissatisfied"] / out["responses"], np.nan)
    return out


def outreach_channel(summary: pd.DataFrame) -> np.ndarray:
    """The outreach (and survey) channel of each customer by the rule in the module docstring."""
    vul = summary["vulnerable"].fillna(False).astype(bool).to_numpy()
    far = summary["area_class"].isin(["rural", "remote"]).to_numpy()
    offline = summary["relies_offline"].fillna(False).astype(bool).to_numpy()
    rural_pt = (summary["rural_point_share"].fillna(0) >= 0.5).to_numpy()
    wechat = ((summary["preferred_channel"] == "wechat") | (summary["actual_channel"] == "wechat")).to_numpy()
    return np.select([vul & far, vul, offline & rural_pt, offline, wechat],
                     ["visit", "ivr", "visit", "ivr", "wechat"], default="sms").astype(object)

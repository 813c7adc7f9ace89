"""Personal data inside customers' comments, as the satisfaction page shows them: the topic examples go through the
one free-text masker (data.masking.mask_free_text), whatever the number's format."""

from __future__ import annotations

import re
import unicodedata

import pytest
from sqlalchemy import select, update

from data.engine import get_engine
from data.models import Response
from tests.app.dashboard_helpers import goto
from tests.app.helpers import login

pytestmark = pytest.mark.security

# one topic keyword each (抢修 / 电费 / 停电 / 进度), two comments per topic (the page shows two examples a topic),
# all negative (太慢): every comment is shown
COMMENTS = {
    "抢修太慢，电话138 1234 5678": ("138 1234 5678", "138****5678"),
    "抢修太慢，手机+86 139-8765-4321": ("+86 139-8765-4321", "139****4321"),
    "电费太慢，电话１３７１２３４５６７８": ("１３７１２３４５６７８", "137****5678"),
    "电费太慢，户号3700 0884 70": ("3700 0884 70", "370*******"),
    "停电太慢，打138.1234.5678": ("138.1234.5678", "138****5678"),
    "停电太慢，或138_1234_5678": ("138_1234_5678", "138****5678"),
    "进度太慢，身份证 370802 19900101 123X": ("370802 19900101 123X", "3708**********123X"),
    "进度太慢，座机（0537）2345678": ("（0537）2345678", "053****5678"),
}


@pytest.fixture
def comments_db(tiny_app_db: str) -> str:
    engine = get_engine(tiny_app_db)
    with engine.begin() as conn:
        ids = [r for (r,) in conn.execute(select(Response.id).where(Response.csat == 2).order_by(Response.id))]
        for rid, text in zip(ids, COMMENTS, strict=False):
            conn.execute(update(Response).where(Response.id == rid).values(comment=text))
    return tiny_app_db


def test_satisfaction_examples_mask_every_format(comments_db: str) -> None:
    at = goto(login("manager"), "satisfaction")
    assert not at.error
    shown = next(d.value for d in at.dataframe if "意见（已掩码）" in d.value.columns)["意见（已掩码）"].tolist()
    assert len(shown) >= len(COMMENTS)  # a comment naming two topics is an example of each
    for text, (secret, masked) in COMMENTS.items():
        prefix = text[:text.index(secret)]
        assert prefix + masked in shown, (text, shown)
    for line in shown:
        folded = unicodedata.normalize("NFKC", line)
        for chain in re.findall(r"[0-9][0-9 .\-_()]*[0-9]", folded):
            assert len(re.sub(r"\D", "", chain)) <= 7, line

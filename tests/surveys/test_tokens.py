"""Token security: entropy, only the hash stored, guessing, tampering, reuse, expiry, a token of another survey."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import func, select

from data.engine import get_engine
from data.masking import mask_address, mask_phone
from data.models import Invitation, Response
from surveys.intake import open_link, submit
from surveys.tokens import TOKEN_BYTES, hash_token, new_token, survey_link, well_formed
from tests.surveys.helpers import HAPPY, NOW, build_survey_world, new_invitation

pytestmark = pytest.mark.security


@pytest.fixture
def world(sqlite_url: str):  # type: ignore[no-untyped-def]
    engine = get_engine(sqlite_url)
    return engine, build_survey_world(engine)


def _responses(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Response).where(Response.invitation_id.is_not(None)))
                   .scalar_one())


def test_tokens_have_at_least_128_random_bits_and_are_url_safe() -> None:
    assert TOKEN_BYTES * 8 >= 128
    tokens = {new_token() for _ in range(5000)}
    assert len(tokens) == 5000
    assert all(well_formed(t) and len(t) >= 22 for t in tokens)
    assert len(hash_token(next(iter(tokens)))) == 64
    assert survey_link("abc", "https://cx.example.cn/") == "https://cx.example.cn/survey?t=abc"


def test_only_the_hash_is_stored(world) -> None:  # type: ignore[no-untyped-def]
    engine, w = world
    token, inv_id = new_invitation(engine, ticket_id=w.ticket_id)
    with engine.connect() as conn:
        row = conn.execute(select(Invitation.__table__).where(Invitation.id == inv_id)).mappings().one()
    assert token not in [str(v) for v in row.values()]
    assert row["token_hash"] == hash_token(token)


def test_guessed_tokens_are_unknown_and_consume_nothing(world) -> None:  # type: ignore[no-untyped-def]
    engine, w = world
    new_invitation(engine, ticket_id=w.ticket_id)
    for _ in range(200):
        guess = secrets.token_urlsafe(24)
        assert open_link(engine, guess, NOW).state == "unknown"
        assert submit(engine, guess, HAPPY, now=NOW).status == "unknown"
    assert _responses(engine) == 0


@pytest.mark.parametrize("bad", [None, "", "short", "x" * 200, "' OR 1=1 --", "abc/../../etc/passwd" * 2,
                                 "令牌令牌令牌令牌令牌令牌令牌令牌令牌令牌令牌令牌", 12345, ["a"]])
def test_malformed_tokens_are_refused_before_any_lookup(world, bad) -> None:  # type: ignore[no-untyped-def]
    engine, _ = world
    assert open_link(engine, bad, NOW).state == "malformed"
    assert submit(engine, bad, HAPPY, now=NOW).status == "malformed"


def test_a_tampered_token_is_unknown_and_the_real_one_still_works(world) -> None:  # type: ignore[no-untyped-def]
    engine, w = world
    token, _ = new_invitation(engine, ticket_id=w.ticket_id)
    i = len(token) // 2
    tampered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
    for t in (tampered, token[:-1], token + "A", token.upper() if token.upper() != token else token.lower()):
        assert submit(engine, t, HAPPY, now=NOW).status in ("unknown", "malformed")
    assert submit(engine, token, HAPPY, now=NOW).status == "ok"


def test_reuse_is_refused_and_shows_no_data(world) -> None:  # type: ignore[no-untyped-def]
    engine, w = world
    token, _ = new_invitation(engine, ticket_id=w.ticket_id)
    assert open_link(engine, token, NOW).state == "ok"
    assert submit(engine, token, HAPPY, now=NOW).status == "ok"
    again = open_link(engine, token, NOW)
    assert again.state == "used" and again.context is None and again.definition is None
    assert submit(engine, token, HAPPY, now=NOW).status == "used"
    assert _responses(engine) == 1


def test_expired_links_are_refused_and_not_consumed(world) -> None:  # type: ignore[no-untyped-def]
    engine, w = world
    token, inv_id = new_invitation(engine, ticket_id=w.ticket_id, expires_in=dt.timedelta(days=7))
    later = NOW + dt.timedelta(days=7, seconds=1)
    assert open_link(engine, token, later).state == "expired"
    assert submit(engine, token, HAPPY, now=later).status == "expired"
    with engine.connect() as conn:
        assert conn.execute(select(Invitation.used_at).where(Invitation.id == inv_id)).scalar_one() is None
    assert submit(engine, token, HAPPY, now=NOW + dt.timedelta(days=6)).status == "ok"


def test_a_token_of_another_survey_is_refused_and_not_consumed(world) -> None:  # type: ignore[no-untyped-def]
    engine, w = world
    token, inv_id = new_invitation(engine, ticket_id=w.ticket_id, survey_key="repair")
    res = submit(engine, token, {"csat": 5, "bill": 5}, survey_key="billing", now=NOW)
    assert res.status == "wrong_survey"
    # Answers of another questionnaire under the right key are refused item by item.
    res = submit(engine, token, {"csat": 5, "bill": 5}, survey_key="repair", now=NOW)
    assert res.status == "invalid" and res.errors == {"bill": "unknown_item"}
    with engine.connect() as conn:
        assert conn.execute(select(Invitation.used_at).where(Invitation.id == inv_id)).scalar_one() is None
    assert _responses(engine) == 0


def test_kiosk_tokens_are_reusable_within_their_day_only(world) -> None:  # type: ignore[no-untyped-def]
    engine, _ = world
    token, _ = new_invitation(engine, survey_key="hall", reusable=True, channel="qr", expires_in=dt.timedelta(hours=12))
    for _ in range(3):
        assert submit(engine, token, {"csat": 4}, now=NOW).status == "ok"
    assert submit(engine, token, {"csat": 4}, now=NOW + dt.timedelta(hours=13)).status == "expired"
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(Response).where(Response.channel == "qr")).scalar_one()
    assert n == 3


def test_the_page_context_carries_no_personal_data(world) -> None:  # type: ignore[no-untyped-def]
    engine, w = world
    token, _ = new_invitation(engine, ticket_id=w.ticket_id, customer_id=1)
    ctx = open_link(engine, token, NOW).context
    assert ctx is not None
    shown = " ".join(str(v) for v in vars(ctx).values())
    assert "张三" not in shown and "13800000000" not in shown and "测试路1号" not in shown
    assert ctx.masked_address == "测试****"


def test_masking() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138-1234-5678") == "138****5678"
    assert mask_phone("12345") == "****" and mask_phone(None) == ""
    assert mask_address("山东省济宁市任城区古槐路12号3单元") == "山东省济宁市****"
    assert mask_address("") == ""

"""Comment topics: Chinese comments segmented with jieba, tagged by a configurable topic lexicon, given a simple
lexicon sentiment, counted by region and channel, with masked examples.

The lexicons are data, passed in by the caller (``data.reference.topics()``: topic, label_zh, label_en, keywords
separated by ``|``; ``data.reference.sentiment_lexicon()``: word, polarity). The keywords and sentiment words are
added to a private jieba tokenizer so they come out as tokens. Segmentation runs once per distinct comment text
(jieba works on one string at a time); everything after it is vectorised.

Sentiment: the sum of the polarities of the comment's sentiment tokens, a token's polarity flipped when one of the
two tokens before it is a negator (不, 没, 没有, 未, 别, 无). > 0 positive, < 0 negative, else neutral.

Examples shown to people are masked by the caller's masker (:func:`topic_examples` requires one): this layer may not
import ``data``, and personal data has one masker only, ``data.masking.mask_free_text``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

import jieba
import numpy as np
import pandas as pd

__all__ = [
    "tag_comments",
    "topic_counts",
    "topic_examples",
    "NEGATORS",
    "OTHER",
]

NEGATORS = ("不", "没", "没有", "未", "别", "无")
OTHER = "other"


def _keywords(lexicon: pd.DataFrame) -> pd.DataFrame:
    """(keyword, topic) pairs of the lexicon."""
    kw = lexicon[["topic", "keywords"]].copy()
    kw["keyword"] = kw["keywords"].fillna("").str.split("|")
    kw = kw.explode("keyword")
    kw["keyword"] = kw["keyword"].str.strip()
    return kw.loc[kw["keyword"] != "", ["keyword", "topic"]].drop_duplicates()


@lru_cache(maxsize=4)
def _tokenizer(words: tuple[str, ...]) -> jieba.Tokenizer:
    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    for w in words:
        tok.add_word(w, freq=200000)
    return tok


def _segment(texts: Sequence[str], words: tuple[str, ...]) -> list[list[str]]:
    tok = _tokenizer(words)
    return [tok.lcut(t) for t in texts]  # one call per distinct text: jieba segments one string at a time


def tag_comments(
    responses: pd.DataFrame,
    lexicon: pd.DataFrame,
    sentiment: pd.DataFrame | Mapping[str, int] | None = None,
    *,
    text_col: str = "comment",
    keep: Sequence[str] = ("region", "region_id", "channel", "service_type", "submitted_at", "csat"),
    negators: Sequence[str] = NEGATORS,
) -> pd.DataFrame:
    """One row per (comment, topic): the response ``id`` as ``response_id``, ``topic`` (``"other"`` when no keyword
    matched), ``matched`` (the keywords found), ``sentiment`` (positive | negative | neutral), ``score``, the
    original ``text`` (unmasked: mask before showing it, see :func:`topic_examples`), and the ``keep`` columns that
    exist. Responses without a comment are left out."""
    cols = [c for c in keep if c in responses.columns]
    out_cols = ["response_id", "topic", "matched", "sentiment", "score", "text", *cols]
    if text_col not in responses.columns:
        return pd.DataFrame(columns=out_cols)
    text = responses[text_col].astype("string").str.strip()
    has = text.notna() & (text != "")
    r = responses.loc[has]
    if r.empty:
        return pd.DataFrame(columns=out_cols)
    kw = _keywords(lexicon)
    if sentiment is None:
        pol: dict[str, int] = {}
    elif isinstance(sentiment, pd.DataFrame):
        pol = dict(zip(sentiment["word"].astype(str), sentiment["polarity"].astype(int), strict=False))
    else:
        pol = dict(sentiment)
    words = tuple(sorted(set(kw["keyword"]) | set(pol) | set(negators)))
    distinct = pd.unique(text[has].to_numpy(dtype=object))
    tokens = _segment([str(t) for t in distinct], words)
    tok = pd.DataFrame({"text": np.repeat(distinct, [len(t) for t in tokens]),
                        "token": [w for ts in tokens for w in ts]})
    tok["pos"] = tok.groupby("text", sort=False).cumcount()
    # sentiment per distinct text, negation within the two previous tokens
    tok["polarity"] = tok["token"].map(pol).fillna(0).astype(int)
    neg = tok["token"].isin(list(negators))
    before = neg.groupby(tok["text"], sort=False).shift(1, fill_value=False) | neg.groupby(
        tok["text"], sort=False).shift(2, fill_value=False)
    tok["polarity"] = np.where(before & (tok["polarity"] != 0), -tok["polarity"], tok["polarity"])
    score = tok.groupby("text", sort=False)["polarity"].sum()
    # topics per distinct text
    hits = tok.merge(kw, left_on="token", right_on="keyword", how="inner")
    hits = hits.groupby(["text", "topic"], sort=False)["keyword"].agg(lambda k: "|".join(dict.fromkeys(k)))
    hits = hits.reset_index().rename(columns={"keyword": "matched"})
    per_text = pd.DataFrame({"text": distinct}).merge(hits, on="text", how="left")
    per_text["topic"] = per_text["topic"].fillna(OTHER)
    per_text["score"] = per_text["text"].map(score).fillna(0).astype(int)
    base = pd.DataFrame({"response_id": r["id"].to_numpy() if "id" in r.columns else r.index.to_numpy(),
                         "text": text[has].to_numpy(dtype=object)})
    for c in cols:
        base[c] = r[c].to_numpy()
    out = base.merge(per_text, on="text", how="left")
    out["sentiment"] = np.where(out["score"] > 0, "positive", np.where(out["score"] < 0, "negative", "neutral"))
    return out[out_cols].reset_index(drop=True)


def topic_counts(
    tagged: pd.DataFrame,
    by: Sequence[str] = ("region", "channel"),
    lexicon: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Comments per topic and group: ``n`` (comments mentioning the topic), ``n_negative``, ``n_positive``,
    ``comments`` (all comments of the group) and ``share`` = n / comments, with the topic labels when the lexicon
    is given. Sorted by group, then n descending."""
    by = [b for b in by if b in tagged.columns]
    d = tagged.assign(neg=(tagged["sentiment"] == "negative").astype(int),
                      pos=(tagged["sentiment"] == "positive").astype(int))
    g = d.groupby([*by, "topic"], dropna=False, sort=False)
    out = g.agg(n=("response_id", "nunique"), n_negative=("neg", "sum"), n_positive=("pos", "sum")).reset_index()
    if by:
        total = d.groupby(by, dropna=False, sort=False)["response_id"].nunique().rename("comments").reset_index()
        out = out.merge(total, on=by, how="left")
    else:
        out["comments"] = d["response_id"].nunique()
    out["share"] = out["n"] / out["comments"].where(out["comments"] > 0)
    if lexicon is not None:
        labels = lexicon.set_index("topic")[["label_zh", "label_en"]]
        out = out.merge(labels, left_on="topic", right_index=True, how="left")
    return out.sort_values([*by, "n"], ascending=[True] * len(by) + [False], kind="mergesort").reset_index(drop=True)


def topic_examples(
    tagged: pd.DataFrame,
    k: int = 3,
    *,
    by: Sequence[str] = (),
    sentiment: str | None = "negative",
    mask: Callable[[str], str],
) -> pd.DataFrame:
    """Up to ``k`` example comments per topic (and ``by`` group), each passed through ``mask`` (the caller's personal
    data masker, ``data.masking.mask_free_text``); the most negative first (ties by response id), distinct texts
    only. ``sentiment`` keeps one sentiment (None for any)."""
    d = tagged if sentiment is None else tagged.loc[tagged["sentiment"] == sentiment]
    keys = [*[b for b in by if b in d.columns], "topic"]
    d = d.sort_values([*keys, "score", "response_id"], kind="mergesort").drop_duplicates([*keys, "text"])
    ex = d.groupby(keys, dropna=False, sort=False).head(k).copy()
    ex["text"] = [mask(str(x)) for x in ex["text"]]
    return ex[[*keys, "response_id", "sentiment", "score", "text"]].reset_index(drop=True)

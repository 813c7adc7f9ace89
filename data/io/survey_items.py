"""Wide survey exports: one column per rated item, as questionnaire tools export them.

A responses mapping may carry an ``items`` block (this model). Each listed source column becomes one answer row
of the named questionnaire item; a source scale different from the item's is converted onto the item's scale by
the stated rule, and N/A codes become missing answers (never a value). The mapping model (``data.io.mapping``)
embeds :class:`SurveyItems`; the conversion itself lives beside it in this module.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ItemColumn(BaseModel):
    """One source column of a wide export and the questionnaire item it answers."""

    model_config = ConfigDict(extra="forbid")

    item: str = Field(description="the item's key in the questionnaire (at most 32 characters)")
    scale: tuple[float, float] | None = Field(
        default=None, description="this column's source scale [lowest, highest] when it differs from the block's")
    na: list[str | float] | None = Field(
        default=None, description="codes in this column that mean 'not applicable' (they become missing answers)")


class SurveyItems(BaseModel):
    """Wide export -> answer rows: source column -> item, the source scale, N/A codes and the conversion rule."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str | ItemColumn] = Field(
        description="source header -> item key, or an object with the item key and column-specific settings")
    scale: tuple[float, float] | None = Field(
        default=None, description="the source scale [lowest, highest] of every column (e.g. [1, 10]); "
                                  "omitted when the export already uses the items' scales")
    na: list[str | float] = Field(
        default_factory=list, description="codes that mean 'not applicable' in every column (e.g. 0)")
    rule: Literal["linear"] = Field(
        default="linear", description="how a source scale maps onto the item's scale: 'linear' maps the source "
                                      "range onto the item's range, rounded to the nearest scale point")

"""Autocomplete answers for the `model` and `aspect_ratio` options."""

from __future__ import annotations

from discord import app_commands

from bot.core import validation
from bot.core.catalog import SUGGEST_WAIT_SECONDS, ModelCatalog

# Offered when the chosen model's own list is unknown.
COMMON_ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3")
_MAX_CHOICES = 25  # Discord's limit


async def model_choices(
    catalog: ModelCatalog, typed: str, *, edit_only: bool = False
) -> list[app_commands.Choice[str]]:
    return [
        app_commands.Choice(name=label, value=model_id)
        for label, model_id in await catalog.suggest(typed, edit_only=edit_only)
    ]


async def aspect_ratio_choices(
    catalog: ModelCatalog, model_id: str | None, typed: str
) -> list[app_commands.Choice[str]]:
    """The chosen model's aspect ratios (the default model's when none is chosen yet)."""
    model = await catalog.details(model_id or catalog.default_model, wait=SUGGEST_WAIT_SECONDS)
    values = (validation.allowed_aspect_ratios(model) if model else []) or COMMON_ASPECT_RATIOS
    return [
        app_commands.Choice(name=value, value=value) for value in values if typed.strip() in value
    ][:_MAX_CHOICES]

"""The bot's persistent buttons and the views that carry them.

Every button is one ``discord.ui.DynamicItem`` type whose custom_id is ``ib:<action>:<id>`` (a
generation or request id), so it keeps working after a restart: whatever handles the press looks
the job up in the store. The type is made per ``Buttons`` so that presses reach the handler the
composition root passed in, with no global state.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

import discord

from bot.core.limits import DISCORD_COMPONENTS_PER_MESSAGE
from bot.discord_app.tree import report_error

_ID = r"[0-9A-Za-z-]{1,64}"  # Oxen generation ids are UUIDs; request ids may be line-<n>


class Action(StrEnum):
    CANCEL = "cancel"
    REROLL = "reroll"
    VARY = "vary"
    EDIT = "edit"
    INFO = "info"
    DELETE = "delete"
    SHARE = "share"  # to the server gallery
    VOTE = "vote"  # ⭐ on a result and on its gallery post; the label carries the count
    WITHDRAW = "withdraw"  # the creator takes the gallery post back
    HIDE = "hide"  # a moderator hides (or shows again) a gallery post
    # One image of a message of several: opens its buttons (above) in a message only the
    # presser sees, since ten images' seven buttons each would not fit one message.
    ACTIONS = "actions"


@dataclass(frozen=True)
class _Look:
    label: str
    emoji: str
    style: discord.ButtonStyle = discord.ButtonStyle.secondary


_LOOKS = {
    Action.CANCEL: _Look("Cancel", "✖️", discord.ButtonStyle.danger),
    Action.REROLL: _Look("Reroll", "🎲"),
    Action.VARY: _Look("Vary", "✏️"),
    Action.EDIT: _Look("Edit", "🖌️"),
    Action.INFO: _Look("Info", "ℹ️"),
    Action.DELETE: _Look("Delete", "🗑️", discord.ButtonStyle.danger),
    Action.SHARE: _Look("Share", "📤"),
    Action.VOTE: _Look("0", "⭐"),
    Action.WITHDRAW: _Look("Withdraw", "↩️"),
    Action.HIDE: _Look("Hide", "🙈"),
    Action.ACTIONS: _Look("Image", "⚙️"),
}
_RESULT_ACTIONS = (Action.REROLL, Action.VARY, Action.EDIT, Action.INFO, Action.DELETE)

# A press: the interaction, which action, and the id the button carries.
Press = Callable[[discord.Interaction, Action, str], Awaitable[None]]


@dataclass(frozen=True)
class _Route:
    press: Press  # where this button type's presses go


_TEMPLATE = rf"ib:(?P<action>{'|'.join(a.value for a in Action)}):(?P<id>{_ID})"


class ActionButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=_TEMPLATE):
    """One button: its action and the id it carries. Each ``Buttons`` makes a subclass bound to
    its press handler; this base is never registered."""

    route: ClassVar[_Route]

    def __init__(self, action: Action, target_id: str, *, label: str | None = None) -> None:
        look = _LOOKS[action]
        super().__init__(
            discord.ui.Button(
                label=label or look.label,
                emoji=look.emoji,
                style=look.style,
                custom_id=f"ib:{action.value}:{target_id}",
            )
        )
        self.action = action
        self.target_id = target_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ActionButton:
        return cls(Action(match["action"]), match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self.route.press(interaction, self.action, self.target_id)
        except Exception as err:
            await report_error(interaction, err, where=f"button {self.action.value}")


def _bound_to(handler: Press) -> type[ActionButton]:
    class BoundActionButton(ActionButton, template=_TEMPLATE):
        route = _Route(handler)

    return BoundActionButton


class Buttons:
    """Builds the views the bot posts; ``item_type`` is registered with the client."""

    def __init__(self, on_press: Press) -> None:
        self.item_type = _bound_to(on_press)

    def _view(self, *buttons: discord.ui.Item[Any]) -> discord.ui.View:
        view = discord.ui.View(timeout=None)
        for button in buttons:
            view.add_item(button)
        return view

    def status_view(self, request_id: str) -> discord.ui.View:
        return self._view(self.item_type(Action.CANCEL, request_id))

    def result_view(
        self, generation_id: str, *, votes: int = 0, shared: bool = False
    ) -> discord.ui.View:
        """A result's buttons, then Share (Withdraw once it is in the gallery) and ⭐ with its
        count: seven buttons, which discord.py lays out in two rows."""
        return self._view(
            *(self.item_type(action, generation_id) for action in _RESULT_ACTIONS),
            self.item_type(Action.WITHDRAW if shared else Action.SHARE, generation_id),
            self.item_type(Action.VOTE, generation_id, label=str(votes)),
        )

    def combined_view(self, images: Sequence[tuple[str, str]]) -> discord.ui.View:
        """A message of several images: one button per image (its label, e.g. "Image 3", and
        its generation id) that opens that image's own buttons; at most 10, in two rows."""
        return self._view(
            *(self.item_type(Action.ACTIONS, gid, label=label) for label, gid in images)
        )

    def gallery_view(
        self, generation_id: str, *, votes: int = 0, hidden: bool = False
    ) -> discord.ui.View:
        """A gallery post's buttons: ⭐ with its count, Info, Withdraw (the creator) and Hide
        (moderators; Unhide on a hidden post)."""
        return self._view(
            self.item_type(Action.VOTE, generation_id, label=str(votes)),
            self.item_type(Action.INFO, generation_id),
            self.item_type(Action.WITHDRAW, generation_id),
            self.item_type(Action.HIDE, generation_id, label="Unhide" if hidden else None),
        )

    def jobs_view(self, request_ids: list[str]) -> discord.ui.View:
        """A Cancel button per request, for /jobs (Discord's component limit caps the list)."""
        return self._view(
            *(
                self.item_type(Action.CANCEL, request_id, label=f"Cancel #{number}")
                for number, request_id in enumerate(request_ids[:DISCORD_COMPONENTS_PER_MESSAGE], 1)
            )
        )

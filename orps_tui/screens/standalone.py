"""A TUI of one screen, as `orps review` opens: the app's clean exit, literal notifications
and remembered theme around a single screen, and the checked apply both review screens use."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.screen import Screen

from orps_tui.app import CleanExit
from orps_tui.literal import LiteralNotify
from orps_tui.prefs import RememberTheme


class OneScreenApp(CleanExit, LiteralNotify, RememberTheme, App):
    CSS_PATH = "../orps.tcss"
    TITLE = "orps review"

    def __init__(self, screen: Screen):
        super().__init__()
        self.first_screen = screen

    def on_mount(self) -> None:
        self.restore_theme()
        self.push_screen(self.first_screen)


def apply_and_say(screen: Screen, project: Path, patch: str) -> bool:
    """Apply `patch` to the project (checked, with a backup: `runners.code.patch.apply_patch`) and
    say in a dialog what happened; True when it was applied."""
    from orps_tui.screens.dialogs import MessageScreen
    from runners.code.patch import PatchError, apply_patch

    try:
        result = apply_patch(project, patch)
    except (PatchError, OSError) as err:
        screen.app.push_screen(MessageScreen("Not applied", str(err)))
        return False
    screen.app.push_screen(
        MessageScreen(
            "Applied",
            f"{', '.join(result.files)}: +{result.added} -{result.removed} lines.\nUndo with: orps apply --revert",
        )
    )
    return True

"""What the TUI remembers between runs (the light or dark theme), in the user's config
directory: `$XDG_CONFIG_HOME/orps/tui.json`, by default `~/.config/orps/tui.json`.

Never the project's directory: a preference follows the user, and the project is only
ever touched by apply. A missing, unreadable or read-only file only means nothing is
remembered; it never stops the app.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a mixin of Textual's App: checked as one
    from textual.app import App as _MixinBase
else:
    _MixinBase = object


def prefs_path() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "orps" / "tui.json"


def load_prefs() -> dict[str, Any]:
    try:
        data = json.loads(prefs_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_pref(key: str, value: Any) -> None:
    path = prefs_path()
    prefs = {**load_prefs(), key: value}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(prefs, indent=1) + "\n")
        tmp.replace(path)
    except OSError:
        pass  # a read-only home: the theme is simply not remembered


class RememberTheme(_MixinBase):
    """An App mixin: start with the theme chosen last time, remember every change."""

    def restore_theme(self) -> None:
        theme = load_prefs().get("theme")
        if isinstance(theme, str) and theme in self.available_themes:
            self.theme = theme
        self.theme_changed_signal.subscribe(self, lambda theme: save_pref("theme", theme.name))

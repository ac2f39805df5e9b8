"""Widgets shared by the TUI's screens."""

from orps_tui.widgets.header import TitleBar
from orps_tui.widgets.nodes import NodeDetail, NodeTable

__all__ = ["NodeDetail", "NodeTable", "TitleBar"]

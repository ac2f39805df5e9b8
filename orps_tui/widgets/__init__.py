"""Widgets shared by the TUI's screens."""

from orps_tui.widgets.header import TitleBar
from orps_tui.widgets.node_detail import NodeDetail
from orps_tui.widgets.nodes import NodeTable

__all__ = ["NodeDetail", "NodeTable", "TitleBar"]

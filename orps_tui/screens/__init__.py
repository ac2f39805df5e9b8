"""The TUI's screens: start, search, review, history, dialogs."""

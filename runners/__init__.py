"""Everything that touches the user's files and processes: locating and splicing code,
sandboxed execution, metrics, datasets, patches. May import `search`'s data types;
never imports `orps_tui`."""

"""Tools for development, the tests and the benchmarks: the local team stack, temporary
workspaces that run the real CLI, and the browser driver. No stage and no part of the
service imports them (tests/unit/test_import_rules.py)."""

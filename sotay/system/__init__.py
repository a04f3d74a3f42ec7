"""The system as people run it: the `sotay` command, the all-in-one and split runtimes, the
registry of services, and the benchmark suite. It stands on the services; nothing below
imports it (pyproject.toml's import-linter contracts)."""

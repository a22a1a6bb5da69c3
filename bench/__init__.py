"""Benchmarks: each ``bench/<name>.py`` with a ``main(argv) -> int`` is one benchmark,
run as ``.venv/bin/python -m bench <name> [options]`` (``python -m bench`` lists them).
They print figures and their ratio to the goal; they are never timed unit tests."""

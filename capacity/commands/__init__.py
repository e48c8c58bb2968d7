"""CLI commands that do I/O-heavy work, each in its own module; capacity/cli.py registers them."""

"""The `fixload` command: its entry point, the `fixload run` wrapper and `fixload check`.

May import: every fixload package.
"""

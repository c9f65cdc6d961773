"""The `fixload` command: its entry point, the `fixload run` wrapper, `fixload capacity` and
`fixload check`.

May import: every fixload package.
"""

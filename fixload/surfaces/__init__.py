"""What the operator sees while a run goes: the web UI and its login, Prometheus, the progress line and
the end-of-run report files.

May import: fixload.runtime and every package below it.
"""

"""k6's executors on Locust: the VU, the executors and their exact schedules (k6's `lib/executor/`).

May import: fixload.metrics, fixload.common.
"""

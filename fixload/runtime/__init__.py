"""One run inside Locust: its state, the lifecycle table, the master/worker protocol, the shape, the
users, signals and the live view.

May import: fixload.engine, fixload.profile, fixload.report, fixload.flows, fixload.metrics, fixload.common.
"""

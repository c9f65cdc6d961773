"""One run inside Locust: its runtime (built once at init and handed on), its role (local, master or worker,
chosen once; the master/worker protocol), the lifecycle table, the shape, signals and the live view.

May import: fixload.engine, fixload.profile, fixload.report, fixload.flows, fixload.metrics, fixload.common.
"""

"""What the flows share: `FlowUser` over `ScenarioUser` (a Locust user whose loop is an engine VU), setup
fixtures and the original harness's conventions.

May import: fixload.profile, fixload.engine, fixload.metrics, fixload.common.
"""

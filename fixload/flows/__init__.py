"""What the flows share: `FlowUser`, setup fixtures and the original harness's conventions.

May import: fixload.profile, fixload.metrics, fixload.common.
"""

"""k6's metrics: the registry and its sinks (snapshot/merge across processes), thresholds in k6's
grammar, and the flows' distinct failures.

May import: fixload.common.
"""

"""The profile as the original harness wrote it: its schema, limits, plan (the multiplier applied),
environment, flow binding and the one validation every entry point shares.

May import: fixload.engine, fixload.metrics, fixload.common.
"""

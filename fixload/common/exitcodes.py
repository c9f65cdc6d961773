"""Process exit codes, k6's numbers, so CI scripts written for the original harness read ours unchanged."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    GENERIC = 1
    THRESHOLDS_FAILED = 99
    ENGINE_ERROR = 103  # k6's GenericEngine: the engine, a shape or an executor crashed
    INVALID_CONFIG = 104
    INTERRUPTED = 105
    SETUP_FAILED = 107

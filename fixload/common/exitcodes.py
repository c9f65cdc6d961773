"""Process exit codes, k6 1.1's numbers and meanings (go.k6.io/k6/errext/exitcodes), so CI scripts written
for the original harness read ours unchanged. docs/exit-codes.md maps each fixload outcome to one of them."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    GENERIC = 1
    THRESHOLDS_FAILED = 99  # k6 ThresholdsHaveFailed
    SETUP_TIMEOUT = 100  # k6 SetupTimeout: setup ran past setupTimeout
    STOPPED_FROM_UI = 103  # k6 ScriptStoppedFromRESTAPI: the web UI's STOP is fixload's stop through an API
    INVALID_CONFIG = 104  # k6 InvalidConfig
    INTERRUPTED = 105  # k6 ExternalAbort: SIGINT / SIGTERM
    SETUP_FAILED = 107  # k6 ScriptException (k6 exits so when setup() throws)
    INTERNAL_ERROR = 109  # k6 GoPanic: fixload's own code crashed (an executor, the engine, the shape, a watcher)

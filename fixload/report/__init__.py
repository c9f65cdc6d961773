"""What a run leaves behind: the summary and its console text, the time series, HTML and JUnit reports,
and `compare` with its reader.

May import: fixload.profile, fixload.metrics, fixload.common.
"""

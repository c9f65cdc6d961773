"""What a run leaves behind: the summary and its console text, the time series, HTML and JUnit reports,
`compare` with its reader, and a capacity search's steps and reports.

May import: fixload.profile, fixload.metrics, fixload.common.
"""

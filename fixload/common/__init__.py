"""Building blocks every package may use: the clocks, k6 durations, atomic files, secrets and their
redaction, exit codes, child processes, the product's contract constants and compare budgets.

May import: nothing of fixload.
"""

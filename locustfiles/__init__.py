"""The five Fixnado flows as Locust user classes; `locust -f locustfiles/` loads them all.

Locust skips files starting with an underscore, so this marker only makes the folder importable.
"""

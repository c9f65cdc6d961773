"""fixload: the Fixnado performance & resilience harness, k6's scenario model on Locust."""

__version__ = "0.1.0"

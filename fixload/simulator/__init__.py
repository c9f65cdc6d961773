"""The embedded Fixnado: a stateful, fault-injectable simulator of the API the five flows drive.

`fixload serve` (or `python -m fixload.simulator`) runs it; `fixload.simulator.process.SimulatorProcess`
starts one from tests and benchmarks. The app is a bare ASGI callable on uvicorn (httptools + uvloop):
measured several times faster than Flask or a bare WSGI app on gevent, so that a benchmark measures
the load generator, never the target.
"""

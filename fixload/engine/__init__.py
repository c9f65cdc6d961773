"""k6's executors on Locust (k6's `lib/executor/`): one module per executor (`constant_arrival_rate`,
`ramping_arrival_rate`, `constant_vus`, `ramping_vus`, `per_vu_iterations`, `shared_iterations`), each with
its options model, validation and bounds, plan arithmetic and runtime, over `base` (what all have),
`arrival_rate` / `vu_based` (the open and the closed model), `fields` (k6 option types and bounds),
`schedules` (k6-exact arrival arithmetic) and `vu` (a VU and its states); `registry` lists them by k6
name, `engine` runs a plan's scenarios on one runner.

May import: fixload.metrics, fixload.common.
"""

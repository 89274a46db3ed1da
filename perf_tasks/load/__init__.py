"""Load generation: an asyncio engine (its own HTTP/1.1 client; aiohttp for https) with open
(coordinated-omission free) and closed models. Import the module you need (importing this
package loads neither aiohttp nor numpy):

- :mod:`~perf_tasks.load.runner`: run a plan, or shards of it in processes
- :mod:`~perf_tasks.load.plan` and :mod:`~perf_tasks.load.scenario`: plans, shards, scenarios scaled per profile
- :mod:`~perf_tasks.load.journey`: journeys
- :mod:`~perf_tasks.load.result` and :mod:`~perf_tasks.load.histo`: results and their mergeable histograms
- :mod:`~perf_tasks.load.summary`: metrics and verdicts of a result
- :mod:`~perf_tasks.load.safety`: the target allowlist
- :mod:`~perf_tasks.load.live` and :mod:`~perf_tasks.load.live_push`: the live window, mid-run alerts, the Pushgateway
- :mod:`~perf_tasks.load.locust_adapter`: Locust files and their CSV results
"""

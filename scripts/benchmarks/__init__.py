"""``scripts/bench``: credsync's speed and memory, each figure side by side with its ceiling, and
credsync beside the incumbent, upstream's Celery task on Redis (``benchmarks.versus``).

Run as ``scripts/bench [--quick] [--out FILE]``; the README's "Performance" section gives the method.
"""

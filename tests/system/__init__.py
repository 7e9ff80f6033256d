"""The whole system as processes, for the tiers that run it so (tests/acceptance, tests/faults).

``processes`` starts and stops the credsync processes (and the Procfile runner) and finds them
again; ``brokers`` and ``postgres`` are the servers they run against, as small interfaces a test
may empty, crash and start again.
"""

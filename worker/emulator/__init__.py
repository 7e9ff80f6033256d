"""A local Credentials service (OAuth2 JWT + REST API of SPEC §5) for the demo, tests and benchmarks.

``server.Emulator`` runs it in a thread of the current process (``python -m worker.emulator`` runs it
as a process); ``admin.EmulatorAdmin`` drives a running one over its ``/_emulator/...`` admin API.

Modules: ``server`` (the emulator: routing, control, CLI), ``transport`` (HTTP connections, faults
applied), ``state`` (programs, course certificates, user credentials), ``fields`` (field parsing as
Credentials' serializers do it), ``tokens`` (JWTs), ``faults`` (fault rules), ``recorder`` (what was
received).
"""

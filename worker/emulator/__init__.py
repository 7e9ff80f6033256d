"""A local Credentials service (SPEC §5) that behaves as a default openedx/credentials install does.

``server.Emulator`` runs it in a thread of the current process (``python -m worker.emulator`` runs it
as a process, ``cli``); ``admin.EmulatorAdmin`` drives a running one over its ``/_emulator/`` API.
It is a model of the real service, never more lenient: where the two differ, the real one is right.

A request flows ``transport`` → ``dispatch`` (admin API, faults, record) → ``oauth`` or ``routes`` →
``views`` (``tokens`` → ``accounts`` → ``permissions`` → ``throttle``) → the rules:
``user_credentials`` (with ``serializers``, ``listing``), ``grades``, ``certificates`` and
``catalog``, held together by ``state``. ``transport`` knows no emulator: it serves any ``transport.Service``.

Modules: ``server`` (the emulator: lifecycle, control methods), ``dispatch`` (request handling:
faults applied, requests recorded), ``oauth`` (the LMS's token endpoint), ``cli`` (the process),
``admin_api`` (the control methods over HTTP), ``admin`` (their client), ``transport`` (connections,
parsing, JSON and HTML answers), ``routes`` (URL resolution), ``views`` (DRF's request pipeline),
``tokens`` (signing and checking JWTs), ``accounts`` (users created by authentication),
``permissions`` (who may call what), ``throttle`` (the per-user rate limits), ``state`` (one
install's data and switches), ``catalog`` (course runs and programs), ``certificates`` (course
certificate configurations), ``user_credentials`` (issuing credentials), ``grades`` (learner
grades: validation, update or create), ``serializers`` (credential body validation), ``listing``
(filters and visibility), ``fields`` (field parsing as Credentials does it), ``models`` (records
and errors), ``faults`` (fault rules), ``recorder`` (what was received).
"""

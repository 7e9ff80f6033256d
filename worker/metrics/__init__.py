"""Prometheus metrics: what each process counts and measures, and where it is served.

Off unless ``CREDSYNC_METRICS_PORT`` is set (``worker.settings``); then each process serves
``/metrics`` on ``CREDSYNC_METRICS_HOST`` (default ``127.0.0.1``):

* **worker**, on the port: Dramatiq's message metrics (``dramatiq_messages_total``,
  ``dramatiq_message_errors_total``, ``dramatiq_message_duration_milliseconds``, ...), recorded by
  credsync's ``Exporter`` middleware (``worker.metrics.exporter``), and ``WorkerMetrics``
  (``worker.metrics.workers``: ``credsync_http_requests_total{method,status}``,
  ``credsync_rows_total{task,outcome}``, ``credsync_row_latency_seconds{task,outcome}``), written
  by every Dramatiq worker process to the files of its run (prometheus_client's multiprocess mode)
  and served by the exposition process Dramatiq forks once per run (``worker.metrics.exposition``);
* **scanner**, on the port + 1 (``worker.metrics.scanning``): ``ScannerMetrics``, the outbox gauges
  read from the database at scrape time (``OutboxCollector``) and the scanner's own counters.

The two halves import nothing from each other: the broker (``worker.broker``) needs the worker
half only, and only the scanner half knows the outbox. This package imports neither, and neither
imports ``prometheus_client`` except inside functions: in a Dramatiq worker process it must be
imported after ``Exporter`` has set ``PROMETHEUS_MULTIPROC_DIR`` (at process boot), because it
chooses between in-process values and shared files once, at import.
"""

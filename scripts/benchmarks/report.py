"""The markdown table of a run: each figure beside its ceiling and the issue's target."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return str(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "**missed**")


def _ge(value: Any, bound: float) -> bool | None:
    return None if value is None else value >= bound


def _le(value: Any, bound: float) -> bool | None:
    return None if value is None else value <= bound


def table(f: Mapping[str, Any]) -> str:
    """One line per measurement: credsync, its ceiling, the ratio, the target and whether it is met."""
    lines = [
        "| Measurement | credsync | Ceiling (same run) | Ratio | Target | |",
        "|---|---:|---:|---:|---|---|",
    ]
    if "claim.rows_per_s" in f:
        claim, bare, enqueue = (
            f["claim.rows_per_s"],
            f["claim.ceiling_rows_per_s"],
            f["claim.enqueue_ceiling_rows_per_s"],
        )
        lines.append(
            f"| Claim + enqueue, rows/s ({_n(f.get('claim.rows'))} rows, batch {_n(f.get('claim.batch'))})"
            f" | {_n(claim)} | SKIP LOCKED loop {_n(bare)}; bare enqueue {_n(enqueue)}"
            f" | {_pct(claim / bare if bare else None)} | ≥ 5,000 rows/s | {_verdict(_ge(claim, 5000))} |"
        )
    if "history.claim_ms" in f:
        by_size = f["history.claim_ms"]
        shown = " / ".join(f"{_n(ms, 2)}" for ms in by_size.values())
        sizes = " / ".join(_short(int(size)) for size in by_size)
        ratio = f.get("history.ratio")
        lines.append(
            f"| Claim of one batch with {sizes} finished rows, ms | {shown} | the empty table"
            f" | {_n(ratio, 2)}x | ≤ 1.5x | {_verdict(_le(ratio, 1.5))} |"
        )
    if "e2e.rows_per_s" in f:
        ratio = f["e2e.ratio"]
        lines.append(
            f"| End to end, rows/s ({_n(f['e2e.rows'])} rows, mixed tasks)"
            f" | {_n(f['e2e.rows_per_s'])} | direct calls {_n(f['e2e.ceiling_rows_per_s'])}"
            f" ({f['e2e.processes']} processes x {f['e2e.threads']} threads)"
            f" | {_pct(ratio)} | ≥ 70 % | {_verdict(_ge(ratio, 0.7))} |"
        )
    if "latency.p50_ms" in f:
        p50, p99 = f["latency.p50_ms"], f["latency.p99_ms"]
        ok = None if p50 is None else (p50 <= 250 and p99 <= 1000)
        lines.append(
            f"| Pickup latency, commit → running, p50 / p99 ms ({_n(f['latency.rate_per_s'])} rows/s)"
            f" | {_n(p50)} / {_n(p99)} | | | ≤ 250 / ≤ 1,000 | {_verdict(ok)} |"
        )
    if "rss.worker_start_mb" in f:
        growth = f["rss.worker_growth"]
        lines.append(
            f"| RSS over {_n(f['rss.rows'])} rows, MB: worker; scanner"
            f" | {_n(f['rss.worker_start_mb'])} → {_n(f['rss.worker_end_mb'])};"
            f" {_n(f['rss.scanner_start_mb'])} → {_n(f['rss.scanner_end_mb'])}"
            f" | | +{_pct(growth)} | < +20 % | {_verdict(_le(growth, 0.2))} |"
        )
    if "http.requests_per_row" in f:
        per_task = "; ".join(f"{task} {_n(n, 2)}" for task, n in f["http.requests_per_row"].items())
        lines.append(f"| HTTP requests per row, by task | {per_task} | | | | |")
        tokens = f["http.token_requests"]
        lines.append(
            f"| OAuth token requests over the run | {_n(tokens)} | none: tokens are signed (LMS_JWT_*)"
            f" | | 0 | {_verdict(_le(tokens, 0))} |"
        )
    if "web.page_ms" in f:
        # The verdict is on each page's median: on a shared machine one load in 15 may wait for a
        # CPU, which the max shows (in the per-page table) but the database did not cause.
        sizes = list(f["web.page_ms"])
        worst = [max(f["web.page_ms"][size].items(), key=lambda item: item[1]) for size in sizes]
        empty, largest = worst[0][1], worst[-1][1]
        lines.append(
            f"| Console page, slowest of {len(f['web.page_ms'][sizes[-1]])} pages' statements, median ms,"
            f" {' / '.join(_short(int(s)) for s in sizes)} finished rows"
            f" | {' / '.join(_n(ms, 1) for _, ms in worst)} ({worst[-1][0]}) | the empty table"
            f" | {_n(largest / empty if empty else None, 2)}x | ≤ {_n(f['web.page_bound_ms'])} ms"
            f" | {_verdict(_le(largest, f['web.page_bound_ms']))} |"
        )
        share = f.get("web.refresh_cpu_share")
        lines.append(
            f"| Open overview's auto-refresh (every {f['web.refresh_s']} s for"
            f" {_n(f['web.refresh_window_s'])} s, {_short(int(sizes[-1]))} rows): Postgres backend CPU,"
            " % of a core"
            f" | {'-' if share is None else f'{share * 100:.2f} %'}"
            f" | one overview {_n(f.get('web.overview_cpu_ms'), 1)} ms CPU | |"
            f" ≤ {f['web.refresh_bound'] * 100:g} % | {_verdict(_le(share, f['web.refresh_bound']))} |"
        )
        lines += ["", *_web(f)]
    if "versus" in f:
        lines += ["", *_versus(f["versus"])]
    return "\n".join(lines)


def _web(f: Mapping[str, Any]) -> list[str]:
    """Each console page's statements, median / max ms, at each size of the finished history."""
    sizes = list(f["web.page_ms"])
    bound = f["web.page_bound_ms"]
    lines = [
        "Console pages: their statements' ms, median / max of each page's loads, by finished rows"
        " (the verdict is on the median)",
        "",
        "| Console page | " + " | ".join(f"{_short(int(s))} rows" for s in sizes) + f" | ≤ {_n(bound)} ms |",
        "|---|" + "---:|" * len(sizes) + "---|",
    ]
    for page in f["web.page_ms"][sizes[-1]]:
        cells = [
            f"{_n(f['web.page_ms'][s][page], 1)} / {_n(f['web.page_max_ms'][s][page], 1)}" for s in sizes
        ]
        ok = all(f["web.page_ms"][s][page] <= bound for s in sizes)
        lines.append(f"| {page} | " + " | ".join(cells) + f" | {_verdict(ok)} |")
    return lines


def _versus(v: Mapping[str, Any]) -> list[str]:
    """credsync beside the incumbent (upstream's Celery task) on the same single-task work."""
    credsync, celery, ratio, ceiling = v["credsync"], v["celery"], v["ratio"], v["ceiling"]

    def row(what: str, ours: str, theirs: str, ratio: str, target: str = "", ok: bool | None = None) -> str:
        return f"| {what} | {ours} | {theirs} | {ratio} | {target} | {_verdict(ok)} |"

    lines = [
        f"credsync vs Celery ({_n(v['rows'])} `{v['task']}` rows, one host transaction each;"
        f" medians of {v['repetitions']}; CPU is the whole machine's)",
        "",
        "| credsync vs Celery | credsync | Celery (same run) | Ratio | Target | |",
        "|---|---:|---:|---:|---|---|",
    ]
    for window, what in (
        ("e2e", "End to end (host transactions → last POST)"),
        ("drain", "Drain (prefilled, let go → last POST)"),
    ):
        speed, cpu = ratio[f"{window}.rows_per_s"], ratio[f"{window}.cpu_ms_per_row"]
        ours, theirs = credsync[window], celery[window]
        # The targets are on the end-to-end figures; the drain's are shown without one.
        end_to_end = window == "e2e"
        lines += [
            row(
                f"{what}, rows/s",
                _n(ours["rows_per_s"]),
                _n(theirs["rows_per_s"]),
                f"{_n(speed, 2)}x",
                *(("≥ 2.0x", _ge(speed, 2.0)) if end_to_end else ()),
            ),
            row(
                f"{what}, CPU ms per row",
                _n(ours["cpu_ms_per_row"], 2),
                _n(theirs["cpu_ms_per_row"], 2),
                f"{_n(cpu, 2)}x",
                *(("≤ 0.5x", _le(cpu, 0.5)) if end_to_end else ()),
            ),
        ]
    of_ceiling = v["e2e_of_ceiling"]
    lines.append(
        row(
            "credsync end to end, rows/s, against its direct-call ceiling",
            _n(credsync["e2e"]["rows_per_s"]),
            f"direct calls {_n(ceiling['rows_per_s'])}"
            f" ({ceiling['processes']} processes x {ceiling['threads']} threads)",
            _pct(of_ceiling),
            "≥ 80 %",
            _ge(of_ceiling, 0.8),
        )
    )
    checks = [bool(side["one_post_per_learner"]) for side in (credsync, celery)]
    lines.append(
        row(
            "One accepted POST per learner, every window",
            *("yes" if ok else "no" for ok in checks),
            "",
            "every learner",
            all(checks),
        )
    )
    return lines


def _short(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:g}M"
    if size >= 1_000:
        return f"{size / 1_000:g}k"
    return str(size)

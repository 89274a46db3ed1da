"""What limited a load point: CPU, memory, disk, network, database, the generator, or a limit inside
the service (no resource was full while a target was missed: a lock, a pool, a concurrency cap).

Pure: judges the resource figures one sweep point sampled (``perf_tasks.scale.sweep.MultiSampler``
keys: ``service_cpu_pct_mean`` summed over the instances' processes in % of one core,
``system_cpu_pct_mean`` of the host, ``service_rss_max_bytes``, ``system_memory_pct_max``,
``process_disk_bytes_per_s``, ``host_net_bytes_per_s``, ``database_cpu_pct_mean``).
"""
from __future__ import annotations

from dataclasses import dataclass

CPU_FULL = 0.85  # of the cores the instances may use
HOST_CPU_FULL_PCT = 90.0
MEMORY_FULL = 0.9  # of a memory limit, or of the host's memory
DISK_BUSY_BYTES_PER_S = 100e6
NET_BUSY_BYTES_PER_S = 1e9  # loopback moves several GB/s: 1 GB/s is a lot of HTTP
DATABASE_CPU_PCT = 85.0  # of one core: a busy database backend
OTHER_WORK_PCT = 50.0  # of one core used by processes that are neither the instances, the balancer nor the generator
OTHER_WORK = "other work on the host"
# a full host is the limit only when the instances waited for a CPU at least this share of the time
# they wanted one (run-queue wait from /proc/<pid>/task/*/schedstat); below it, the host was busy
# but the instances were not starved: the limit is elsewhere (e.g. inside the service)
STARVED_WAIT_PCT = 20.0
STARVED_WAIT_CORE_PCT = 10.0  # ... and that wait came to at least this share of one core (a process at 2 % CPU
# waiting half the time it is runnable is not starved: it wants almost nothing)


@dataclass(frozen=True)
class Verdict:
    # generator | memory | cpu | cpu (host) | other work on the host | database | disk | network |
    # service internal | none
    verdict: str
    reason: str


def bottleneck(r: dict[str, float], *, generator_saturated: bool = False, generator_reason: str = "",
               service_cores: float = 1.0, host_cores: int = 1, memory_limit_bytes: int | None = None,
               missed: bool = True) -> Verdict:
    """For a point that missed a target: the first full resource in the order generator, memory, CPU,
    database, disk, network; with none full, a limit inside the service. A point that met its targets
    (and whose generator was fine) is "none"."""
    if generator_saturated:
        return Verdict("generator", generator_reason or "the load generator was saturated")
    if not missed:  # a point that met its targets was not limited (the figures are in its resources)
        return Verdict("none", f"targets met (instances {r.get('service_cpu_pct_mean', 0.0):.0f} % of "
                               f"{100 * service_cores:.0f} %, host {r.get('system_cpu_pct_mean', 0.0):.0f} %)")
    svc = r.get("service_cpu_pct_mean", 0.0)
    host = r.get("system_cpu_pct_mean", 0.0)
    rss = r.get("service_rss_max_bytes", 0.0)
    if memory_limit_bytes and rss >= MEMORY_FULL * memory_limit_bytes:
        return Verdict("memory", f"the instances used {rss / 2**20:.0f} MiB of their {memory_limit_bytes / 2**20:.0f} "
                                 f"MiB limit")
    if r.get("system_memory_pct_max", 0.0) >= MEMORY_FULL * 100:
        return Verdict("memory", f"host memory {r['system_memory_pct_max']:.0f} % used")
    if svc >= CPU_FULL * 100 * service_cores:
        return Verdict("cpu", f"the instances used {svc:.0f} % of a core out of {100 * service_cores:.0f} % "
                              f"({service_cores:g} core(s)): CPU-bound")
    waited = r.get("service_cpu_wait_share_pct")  # None: not measured (then a full host is blamed)
    starved_now = waited is None or (waited >= STARVED_WAIT_PCT
                                     and r.get("service_cpu_wait_pct", STARVED_WAIT_CORE_PCT) >= STARVED_WAIT_CORE_PCT)
    if host >= HOST_CPU_FULL_PCT and starved_now:
        lb, gen = r.get("balancer_cpu_pct_mean", 0.0), r.get("generator_cpu_pct_mean", 0.0)
        starved = ("" if waited is None else
                   f"; the instances waited for a CPU {waited:.0f} % of the time they wanted one")
        rest = max(0.0, host * host_cores - svc - lb - gen)  # % of one core: everything else on the host
        if rest >= OTHER_WORK_PCT:
            return Verdict(OTHER_WORK, f"the host's {host_cores} cores were {host:.0f} % busy and {rest:.0f} % of a "
                                       f"core "
                                       f"went to other work on this host (instances {svc:.0f} %, balancer {lb:.0f} %, "
                                       f"generator {gen:.0f} %){starved}: this point measured the host, not the "
                                       f"system")
        return Verdict("cpu (host)", f"the host's {host_cores} cores were {host:.0f} % busy (instances {svc:.0f} % "
                                     f"of a core, balancer {lb:.0f} %, generator {gen:.0f} %, everything else "
                                     f"{rest:.0f} %){starved}: the instances could not get their cores")
    if r.get("database_cpu_pct_mean", 0.0) >= DATABASE_CPU_PCT:
        return Verdict("database", f"the database used {r['database_cpu_pct_mean']:.0f} % of a core")
    if r.get("process_disk_bytes_per_s", 0.0) >= DISK_BUSY_BYTES_PER_S:
        return Verdict("disk", f"the instances moved {r['process_disk_bytes_per_s'] / 1e6:.0f} MB/s to/from disk")
    if r.get("host_net_bytes_per_s", 0.0) >= NET_BUSY_BYTES_PER_S:
        return Verdict("network", f"{r['host_net_bytes_per_s'] / 1e6:.0f} MB/s on the host's interfaces")
    wait_note = "" if waited is None else f", waited for a CPU {waited:.0f} % of the time"
    return Verdict("service internal", f"a target was missed with no resource full (instances {svc:.0f} % of "
                                       f"{100 * service_cores:.0f} %{wait_note}, host {host:.0f} %): a limit inside "
                                       f"the service (concurrency cap, lock, pool) or queueing")

#!/usr/bin/env python3
"""The load benchmark: psql and StructureLoader side by side; `scripts/bench` runs it against a
throwaway server.

    bench/bench.py schema   psql vs StructureLoader vs one message, at several round-trip times
    bench/bench.py copy     psql vs StructureLoader on a dump of 300 MB of COPY data
    bench/bench.py memory   StructureLoader's memory while loading >= 1 GB of COPY data

The server comes from the environment `scripts/pg` prints: PGHOST/PGPORT/PGUSER/PGPASSWORD
(TCP, through which the loads go) and PG_SOCKET_DIR (the trusted unix socket, used to create
and drop the databases). PG_BIN names the client binaries. Settings (environment):

    BENCH_RTTS            round-trip times in ms through the latency    default 0,2,10
                          proxy; `direct` connects without the proxy
    BENCH_REPS            repetitions per method and RTT                default 5
    BENCH_SLOW_SECONDS    a run longer than this is slow                default 150
    BENCH_SLOW_REPS       repetitions of a method that is slow at an    default 1
                          RTT (psql at 10 ms takes about 4 minutes a run)
    BENCH_METHODS         which of psql,structure_loader,one_message    default all three
    BENCH_COPY_MB         COPY data in MiB: copy benchmark              default 300
                          memory benchmark                              default 1100
    MIX_ENV               environment StructureLoader is compiled in    default prod

Inputs are cached in target/bench/, keyed by a hash of their generator; results go to
target/bench/results.md (and results.json, memory.md).
"""

import hashlib
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = ROOT / "target" / "bench"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
METHODS = ["psql", "structure_loader", "one_message"]
LABELS = {
    "psql": "psql -1 -f",
    "structure_loader": "StructureLoader",
    "structure_loader_wall": "StructureLoader incl. BEAM start",
    "one_message": "one message (lower bound)",
}
PG_DUMP_FLAGS = ["--schema-only", "--no-owner", "--no-acl", "--restrict-key=structureloaderbench"]
MIX_ENV = os.environ.get("MIX_ENV", "prod")
MEMORY_TARGET_MIB = 64
LONG_LINE_MB = 100


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "schema"
    OUT.mkdir(parents=True, exist_ok=True)
    if mode == "schema":
        schema_benchmark()
    elif mode == "copy":
        copy_benchmark()
    elif mode == "memory":
        memory_benchmark()
    else:
        sys.exit(f"usage: {sys.argv[0]} schema|copy|memory")


# ---------------------------------------------------------------------------------------
# schema benchmark


def schema_benchmark():
    rtts = [None if r == "direct" else float(r) for r in os.environ.get("BENCH_RTTS", "0,2,10").split(",")]
    reps = int(os.environ.get("BENCH_REPS", "5"))
    slow_seconds = float(os.environ.get("BENCH_SLOW_SECONDS", "150"))
    slow_reps = int(os.environ.get("BENCH_SLOW_REPS", "1"))
    methods = os.environ.get("BENCH_METHODS", ",".join(METHODS)).split(",")
    unknown = set(methods) - set(METHODS)
    if unknown:
        sys.exit(f"bench: unknown BENCH_METHODS {sorted(unknown)}; known: {METHODS}")

    dump = schema_dump()
    items = split(dump)
    counts = {kind: sum(1 for item in items if item["kind"] == kind) for kind in ("sql", "copy", "meta")}
    one_message = one_message_file(dump, items)
    print(f"input: {rel(dump)}: {dump.stat().st_size / 1e6:.2f} MB, {len(items)} items "
          f"({counts['sql']} SQL statements, {counts['copy']} COPY, {counts['meta']} meta-commands)")
    beam = None
    if "structure_loader" in methods:
        beam = snapshot_structure_loader()
        if beam is None:
            methods.remove("structure_loader")

    runs = []  # dicts: rtt, method, rep, seconds, (beam_seconds), objects, nif
    reference_objects = None
    for rtt in rtts:
        with LatencyProxy(rtt) as proxy:
            via = "no proxy" if rtt is None else f"proxy on port {proxy.port}"
            print(f"\n== RTT {fmt_ms(rtt)} ({via}; measured round trip "
                  f"{proxy.measured_rtt_ms:.2f} ms, median of 20 `select 1`)")
            for rep in range(reps):
                for method in methods:
                    done = [r["seconds"] for r in runs if r["method"] == method and r["rtt_ms"] == rtt]
                    if len(done) >= slow_reps and min(done) > slow_seconds:
                        continue
                    run = run_one(method, dump, one_message, beam, proxy, rtt, rep)
                    run["measured_rtt_ms"] = proxy.measured_rtt_ms
                    if reference_objects is None:
                        reference_objects = run["objects"]
                    elif run["objects"] != reference_objects:
                        sys.exit(f"bench: {method} left {run['objects']} in the database, "
                                 f"the first load left {reference_objects}")
                    runs.append(run)
    report_schema(runs, rtts, methods, dump, counts, reps, (slow_seconds, slow_reps), reference_objects,
                  beam)


def schema_dump():
    """The pg_dump of gen_schema.py's schema, generated once per generator version."""
    generator = BENCH / "gen_schema.py"
    pg_dump_version = capture([PG_BIN / "pg_dump", "--version"]).strip()
    key = digest(generator.read_bytes(), pg_dump_version.encode(), " ".join(PG_DUMP_FLAGS).encode())
    path = OUT / f"schema-{key}.sql"
    if path.exists():
        return path
    for stale in OUT.glob("schema-*.sql"):
        stale.unlink()  # an older generator's (and its one-message file)
    print(f"generating the schema ({generator.name}) and dumping it with {pg_dump_version} ...")
    started = time.perf_counter()
    database = "bench_generate_schema"
    admin(f"DROP DATABASE IF EXISTS {database}")
    admin(f"CREATE DATABASE {database}")
    try:
        ddl = capture([sys.executable, generator])
        subprocess.run(
            [PG_BIN / "psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-d", database],
            input=ddl.encode(), env=socket_env(PGOPTIONS="-c client_min_messages=warning"),
            check=True, stdout=subprocess.DEVNULL,
        )
        temporary = path.with_suffix(".tmp")
        subprocess.run([PG_BIN / "pg_dump", *PG_DUMP_FLAGS, "-d", database, "-f", temporary],
                       env=socket_env(), check=True)
        temporary.rename(path)
    finally:
        admin(f"DROP DATABASE IF EXISTS {database}")
    print(f"generated {rel(path)} in {time.perf_counter() - started:.1f} s")
    return path


def split(dump):
    """What scripts/split makes of the file: one dict per statement, COPY or meta-command."""
    output = capture([ROOT / "scripts" / "split", dump])
    return [json.loads(line) for line in output.splitlines()]


def one_message_file(dump, items):
    """A psql script that sends every SQL statement of the dump in ONE simple-query message.

    psql ends a statement at `;` but not at `\\;`, which it turns into a plain `;` in the
    query buffer; joining the statements with `\\;` therefore makes psql send the whole
    text at the final `;` as one Query message (and with -1, BEGIN and COMMIT around it).
    A command-line `psql -c TEXT` would do the same, but Linux limits one argument to
    128 KiB. Only SQL items are kept: a schema-only dump has no COPY, and its meta-commands
    (`\\restrict`) are psql's own business.
    """
    path = dump.with_suffix(".one-message.sql")
    if path.exists() and path.stat().st_mtime >= dump.stat().st_mtime:
        return path
    statements = [item["text"] for item in items if item["kind"] == "sql"]
    for text in statements:
        if not text.endswith(";") or "\\" in text:
            sys.exit(f"bench: cannot join this statement into one message: {text[:200]!r}")
    temporary = path.with_suffix(".tmp")
    temporary.write_text("\\;\n".join(text[:-1] for text in statements) + ";\n", encoding="utf-8")
    temporary.rename(path)
    return path


class Beam:
    """A frozen copy of compiled StructureLoader and the command that runs a script with it."""

    def __init__(self, root, nif_sha256, source):
        self.command = ["elixir", "-pa", root / "structure_loader" / "ebin", "-pa", root / "consolidated"]
        self.nif_sha256 = nif_sha256
        self.source = source


def snapshot_structure_loader():
    """Compiles StructureLoader once and copies the result to target/bench/snapshot/.

    Every measured run starts a BEAM on that copy (`elixir -pa`, no mix): so no run
    compiles, and all of them run the same code even while the checkout is being rebuilt
    (`mix compile` elsewhere reinstalls priv/native/*.so, which `mix run` would pick up).
    Returns None when compiling fails.
    """
    print(f"\ncompiling StructureLoader (MIX_ENV={MIX_ENV} mix compile) ...")
    result = subprocess.run(["mix", "compile"], cwd=ROOT, env={**os.environ, "MIX_ENV": MIX_ENV},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        print(result.stdout[-3000:])
        print("bench: `mix compile` failed; measuring without StructureLoader", file=sys.stderr)
        return None
    build = ROOT / "_build" / MIX_ENV / "lib" / "structure_loader"
    snapshot = OUT / "snapshot"
    shutil.rmtree(snapshot, ignore_errors=True)
    shutil.copytree(build / "ebin", snapshot / "structure_loader" / "ebin")
    shutil.copytree(build / "priv", snapshot / "structure_loader" / "priv")  # follows the symlink
    shutil.copytree(build / "consolidated", snapshot / "consolidated")
    nif = digest((snapshot / "structure_loader" / "priv" / "native" / "libstructure_loader_nif.so").read_bytes())
    head = capture(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).strip()
    changed = capture(["git", "-C", ROOT, "status", "--porcelain", "--", "native", "lib", "mix.exs"])
    source = f"commit {head}" + (f" + {len(changed.splitlines())} uncommitted files" if changed else "")
    print(f"StructureLoader: {source}, NIF sha256 {nif}")
    return Beam(snapshot, nif, source)


def run_one(method, dump, one_message, beam, proxy, rtt, rep):
    database = f"bench_{method}_{'direct' if rtt is None else f'{int(rtt * 1000)}us'}_{rep}"
    admin(f"DROP DATABASE IF EXISTS {database}")
    admin(f"CREATE DATABASE {database}")
    # Write out what earlier runs left dirty, so that no run pays for its predecessor.
    admin("CHECKPOINT")
    env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(proxy.port), "PGDATABASE": database}
    log = OUT / "logs" / f"{database}.log"
    log.parent.mkdir(exist_ok=True)
    run = {"rtt_ms": rtt, "method": method, "rep": rep}
    try:
        with open(log, "w") as stderr:
            if method == "structure_loader":
                command = [*beam.command, BENCH / "load.exs", dump, database]
            else:
                script = dump if method == "psql" else one_message
                command = [PG_BIN / "psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", script]
            started = time.perf_counter()
            result = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr,
                                    text=True)
            run["seconds"] = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"bench: {method} failed at RTT {fmt_ms(rtt)} (exit {result.returncode}); "
                     f"see {rel(log)}:\n{log.read_text()[-2000:]}")
        run["round_trips"] = proxy.round_trips()
        if method == "structure_loader":
            micros = [line for line in result.stdout.splitlines() if line.startswith("structure_loader_us=")]
            run["beam_seconds"] = int(micros[0].split("=")[1]) / 1e6
        run["objects"] = capture(
            [PG_BIN / "psql", "-X", "-At", "-d", database, "-c",
             "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
             "         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast'))"
             " || ' relations, ' || (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal)"
             " || ' triggers, ' || (SELECT count(*) FROM pg_proc p JOIN pg_namespace n"
             "         ON n.oid = p.pronamespace WHERE n.nspname = 'public') || ' functions'"],
            env=socket_env(),
        ).strip()
    finally:
        admin(f"DROP DATABASE IF EXISTS {database}")
    details = [f"in the BEAM {run['beam_seconds']:.2f} s"] if "beam_seconds" in run else []
    if run["round_trips"] is not None:
        details.append(f"{run['round_trips']} round trips")
    details = f" ({', '.join(details)})" if details else ""
    print(f"  {LABELS[method]:<28} rep {rep + 1}: {run['seconds']:7.2f} s{details}", flush=True)
    return run


def report_schema(runs, rtts, methods, dump, counts, reps, slow, objects, beam):
    columns = []  # (method, run key, label)
    for method in METHODS:
        if method not in methods:
            continue
        if method == "structure_loader":
            columns.append(("structure_loader", "beam_seconds", LABELS["structure_loader"]))
            columns.append(("structure_loader", "seconds", LABELS["structure_loader_wall"]))
        else:
            columns.append((method, "seconds", LABELS[method]))
    ratios = "structure_loader" in methods
    header = ["RTT", "measured RTT (ms)"] + [label for _, _, label in columns]
    if ratios:
        header += ["StructureLoader / lower bound", "psql / StructureLoader"]

    def values(method, rtt, key):
        return [r[key] for r in runs if r["method"] == method and r["rtt_ms"] == rtt and r.get(key) is not None]

    def table(statistic):
        rows = []
        for rtt in rtts:
            measured = next(r["measured_rtt_ms"] for r in runs if r["rtt_ms"] == rtt)
            row = [fmt_ms(rtt), f"{measured:.2f}"]
            for method, key, _ in columns:
                found = values(method, rtt, key)
                cell = f"{statistic(found):.2f}" if found else "-"
                row.append(cell if len(found) in (0, reps) else f"{cell} (n={len(found)})")
            if ratios:
                sl, lower, psql = (values(m, rtt, k) for m, k in [
                    ("structure_loader", "beam_seconds"), ("one_message", "seconds"), ("psql", "seconds")])
                row.append(f"{statistic(sl) / statistic(lower):.2f}x" if sl and lower else "-")
                row.append(f"{statistic(psql) / statistic(sl):.1f}x" if sl and psql else "-")
            rows.append(row)
        return rows

    medians, fastest = table(statistics.median), table(min)
    print(f"\nmedian wall time in seconds (n = {reps} unless noted)")
    print_table(header, medians)
    print("\nfastest run in seconds")
    print_table(header, fastest)

    round_trips = []
    for method in methods:
        trips = sorted({r["round_trips"] for r in runs if r["method"] == method and r["round_trips"] is not None})
        if trips:
            spread = str(trips[0]) if len(trips) == 1 else f"{trips[0]}-{trips[-1]}"
            round_trips.append(f"{LABELS[method]} {spread}")
    notes = [
        f"Input: `{rel(dump)}`, {dump.stat().st_size / 1e6:.2f} MB, {counts['sql']} SQL statements, "
        f"{counts['meta']} meta-commands, generated by `bench/gen_schema.py` and dumped with "
        f"`pg_dump {' '.join(PG_DUMP_FLAGS)}`; every load leaves {objects}.",
        f"{reps} runs of each method at each RTT (n= says fewer: a method whose runs took over "
        f"{slow[0]:g} s ran {slow[1]} time(s) at that RTT), each into a fresh empty database through "
        "`bench/latency_proxy.py` (`direct`: without it); wall seconds of the whole command, "
        "connecting included. The measured RTT is the median `SELECT 1` through the proxy.",
        "StructureLoader: `StructureLoader.structure_load/2` timed inside the BEAM with "
        "`:timer.tc` (connect + load); the column after it adds starting the BEAM (`elixir -pa` "
        "on a snapshot of the compiled project). The ratios use the in-BEAM time.",
        "One message: every SQL statement joined with `\\;` so that psql sends them as one "
        "simple-query message (`psql -1`, so BEGIN and COMMIT are separate messages).",
        "Round trips per load, counted by the proxy (connecting included): " + ", ".join(round_trips) + ".",
        f"Machine: {os.cpu_count()} CPUs, {capture([PG_BIN / 'postgres', '--version']).strip()} "
        f"with its files on {server_filesystem()} (fsync off), {time.strftime('%Y-%m-%d %H:%M %Z')}.",
    ]
    if beam:
        notes.append(f"StructureLoader: {beam.source} (NIF sha256 {beam.nif_sha256}).")
    print("\n" + notes[4])
    markdown = [
        "# StructureLoader benchmark", "", "Median wall time in seconds:", "",
        markdown_table(header, medians), "", "Fastest run in seconds:", "",
        markdown_table(header, fastest), "",
    ]
    markdown += [f"- {note}" for note in notes]
    (OUT / "results.md").write_text("\n".join(markdown) + "\n")
    (OUT / "results.json").write_text(json.dumps(runs, indent=1) + "\n")
    print(f"\nwritten {rel(OUT / 'results.md')} and {rel(OUT / 'results.json')}")


# ---------------------------------------------------------------------------------------
# copy benchmark


def copy_benchmark():
    """psql -1 -f and StructureLoader on the same dump of COPY data, alternating, each into a
    fresh database on a direct loopback connection: the server's own work dominates, so this
    measures what each client adds to it."""
    size_mb = int(os.environ.get("BENCH_COPY_MB", "300"))
    reps = int(os.environ.get("BENCH_REPS", "5"))
    dump, expected_rows = copy_dump(size_mb)
    beam = snapshot_structure_loader()
    if beam is None:
        sys.exit("bench: the copy benchmark needs StructureLoader")
    # Vacuuming the last run's tables, or a checkpoint forced by WAL volume, would take the
    # server's CPU from the run measured; each run starts after a CHECKPOINT instead.
    admin("ALTER SYSTEM SET autovacuum = off")
    admin("ALTER SYSTEM SET max_wal_size = '8GB'")
    admin("SELECT pg_reload_conf()")
    size = dump.stat().st_size
    print(f"\n{rel(dump)}: {size / 1e6:.0f} MB, {expected_rows} COPY rows; server files on "
          f"{server_filesystem()}; {reps} runs each, alternating\n")
    runs = {"psql": [], "structure_loader": [], "structure_loader_wall": []}
    for rep in range(reps):
        for method in ["psql", "structure_loader"]:
            database = f"bench_copy_{method}"
            admin(f"DROP DATABASE IF EXISTS {database}")
            admin(f"CREATE DATABASE {database}")
            admin("CHECKPOINT")
            env = {**os.environ, "PGHOST": "127.0.0.1", "PGDATABASE": database}
            if method == "psql":
                command = [PG_BIN / "psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", dump]
            else:
                command = [*beam.command, BENCH / "load.exs", dump, database]
            started = time.perf_counter()
            result = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
            wall = time.perf_counter() - started
            if result.returncode != 0:
                sys.exit(f"bench: {method} failed (exit {result.returncode})")
            rows = int(capture(
                [PG_BIN / "psql", "-X", "-At", "-d", database, "-c",
                 "SELECT (SELECT count(*) FROM public.events) + (SELECT count(*) FROM "
                 "public.ci_job_artifacts) + (SELECT count(*) FROM public.audit_events) + "
                 "(SELECT count(*) FROM public.notes)"], env=socket_env()).strip())
            admin(f"DROP DATABASE IF EXISTS {database}")
            if rows != expected_rows:
                sys.exit(f"bench: {method} loaded {rows} rows, the dump has {expected_rows}")
            if method == "psql":
                runs["psql"].append(wall)
                print(f"  {LABELS['psql']:<34} run {rep + 1}: {wall:6.2f} s", flush=True)
            else:
                micros = [line for line in result.stdout.splitlines()
                          if line.startswith("structure_loader_us=")]
                seconds = int(micros[0].split("=")[1]) / 1e6
                runs["structure_loader"].append(seconds)
                runs["structure_loader_wall"].append(wall)
                print(f"  {LABELS['structure_loader']:<34} run {rep + 1}: {seconds:6.2f} s "
                      f"({wall:.2f} s with the BEAM's start)", flush=True)

    median = {method: statistics.median(times) for method, times in runs.items()}
    header = ["client", "median s", "fastest s", "slowest s", "MB/s (median)", "/ psql (median)"]
    rows = [
        [LABELS[method], f"{median[method]:.2f}", f"{min(times):.2f}", f"{max(times):.2f}",
         f"{size / 1e6 / median[method]:.0f}", f"{median[method] / median['psql']:.2f}x"]
        for method, times in runs.items()
    ]
    print()
    print_table(header, rows)
    verdict = "at or below psql" if median["structure_loader"] <= median["psql"] else "ABOVE psql"
    print(f"\nStructureLoader's median is {verdict} ({median['structure_loader']:.2f} s vs "
          f"{median['psql']:.2f} s); the BEAM's start is the third row's difference.")
    (OUT / "copy.md").write_text(
        f"# COPY benchmark\n\n{size / 1e6:.0f} MB of COPY data, {expected_rows} rows, "
        f"{reps} runs each\n\n" + markdown_table(header, rows) + "\n")
    print(f"\nwritten {rel(OUT / 'copy.md')}")


# memory benchmark


def memory_benchmark():
    size_mb = int(os.environ.get("BENCH_COPY_MB", "1100"))
    dump, expected_rows = copy_dump(size_mb)
    warmup = OUT / "warmup.sql"
    warmup.write_text("SELECT 1;\n")
    beam = snapshot_structure_loader()
    if beam is None:
        sys.exit("bench: the memory benchmark needs StructureLoader")
    database = "bench_memory"
    admin(f"DROP DATABASE IF EXISTS {database}")
    admin(f"CREATE DATABASE {database}")
    try:
        print(f"\nloading {rel(dump)} ({dump.stat().st_size / 1e9:.2f} GB) with StructureLoader ...")
        started = time.perf_counter()
        result = subprocess.run(
            [*beam.command, BENCH / "memory.exs", dump, warmup, database],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )
        wall = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"bench: the memory run failed (exit {result.returncode}):\n{result.stdout[-2000:]}")
        figures = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        rows = capture([PG_BIN / "psql", "-X", "-At", "-d", database, "-c",
                        "SELECT sum(n) FROM (SELECT count(*) AS n FROM public.events UNION ALL "
                        "SELECT count(*) FROM public.ci_job_artifacts UNION ALL "
                        "SELECT count(*) FROM public.audit_events UNION ALL "
                        "SELECT count(*) FROM public.notes) counts"], env=socket_env()).strip()
    finally:
        admin(f"DROP DATABASE IF EXISTS {database}")

    if int(rows) != expected_rows:
        sys.exit(f"bench: {rows} rows loaded, the dump has {expected_rows}")
    kib = {key: int(value) for key, value in figures.items() if key.endswith("_kib")}
    load_seconds = int(figures["load_us"]) / 1e6
    growth = (kib["peak_rss_kib"] - kib["idle_rss_kib"]) / 1024
    hwm_growth = (kib["hwm_kib"] - kib["idle_rss_kib"]) / 1024
    verdict = "PASS" if max(growth, hwm_growth) <= MEMORY_TARGET_MIB else "FAIL"
    lines = [
        f"input: {dump.stat().st_size / 1e9:.2f} GB, {rows} COPY rows loaded",
        f"load: {load_seconds:.1f} s in the BEAM ({dump.stat().st_size / 1e6 / load_seconds:.0f} MB/s), "
        f"{wall:.1f} s wall",
        f"BEAM RSS at boot:      {kib['boot_rss_kib'] / 1024:8.1f} MiB",
        f"BEAM RSS idle:         {kib['idle_rss_kib'] / 1024:8.1f} MiB (after a warm-up load)",
        f"BEAM RSS peak:         {kib['peak_rss_kib'] / 1024:8.1f} MiB (sampled every 5 ms)",
        f"BEAM VmHWM:            {kib['hwm_kib'] / 1024:8.1f} MiB (kernel high-water mark, whole life)",
        f"peak - idle:           {growth:8.1f} MiB (VmHWM - idle: {hwm_growth:.1f} MiB); "
        f"target <= {MEMORY_TARGET_MIB} MiB: {verdict}",
    ]
    lines += long_line_memory(beam, warmup)
    print("\n" + "\n".join(lines))
    (OUT / "memory.md").write_text("# StructureLoader memory benchmark\n\n```\n" + "\n".join(lines) + "\n```\n")
    print(f"\nwritten {rel(OUT / 'memory.md')}")


def long_line_memory(beam, warmup):
    """What one statement of LONG_LINE_MB on one line costs the BEAM, as a multiple of its size."""
    path = OUT / f"long-line-{LONG_LINE_MB}mb.sql"
    if not path.exists():
        with open(path, "w") as out:
            out.write("CREATE TABLE t (v text);\nINSERT INTO t VALUES ('")
            out.write("x" * (LONG_LINE_MB * 1_000_000))
            out.write("');\n")
    database = "bench_long_line"
    admin(f"DROP DATABASE IF EXISTS {database}")
    admin(f"CREATE DATABASE {database}")
    try:
        print(f"\nloading {rel(path)} (one {LONG_LINE_MB} MB line) with StructureLoader ...")
        result = subprocess.run([*beam.command, BENCH / "memory.exs", path, warmup, database],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            sys.exit(f"bench: the long-line run failed (exit {result.returncode}):\n{result.stdout[-2000:]}")
    finally:
        admin(f"DROP DATABASE IF EXISTS {database}")
    figures = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    growth = (int(figures["peak_rss_kib"]) - int(figures["idle_rss_kib"])) * 1024 / 1e6
    return [
        "",
        f"one {LONG_LINE_MB} MB line: BEAM RSS peak - idle {growth:.0f} MB, "
        f"{growth / LONG_LINE_MB:.1f} times the line",
    ]


def copy_dump(size_mb):
    generator = BENCH / "gen_copy_dump.py"
    key = digest(generator.read_bytes(), str(size_mb).encode())
    path = OUT / f"copy-{size_mb}mb-{key}.sql"
    if not path.exists():
        for stale in [*OUT.glob("copy-*.sql"), *OUT.glob("copy-*.rows")]:
            stale.unlink()  # a gigabyte each: keep only the current one
        print(f"generating {rel(path)} ({size_mb} MiB of COPY data) ...")
        output = capture([sys.executable, generator, path, "--size-mb", str(size_mb)])
        print(output.strip())
        path.with_suffix(".rows").write_text(output.split()[-2] + "\n")
    return path, int(path.with_suffix(".rows").read_text())


# ---------------------------------------------------------------------------------------
# helpers


def server_filesystem():
    """The type of the filesystem holding the server's files (scripts/bench: tmpfs by default)."""
    return capture(["stat", "-f", "-c", "%T", os.environ["PG_SOCKET_DIR"]]).strip()


class LatencyProxy:
    """bench/latency_proxy.py in front of the server for one `with` block (rtt_ms None: none)."""

    def __init__(self, rtt_ms):
        self.rtt_ms = rtt_ms
        self.process = None

    def __enter__(self):
        if self.rtt_ms is None:
            self.port = int(os.environ["PGPORT"])
            self.measured_rtt_ms = self.measure()
            return self
        self.process = subprocess.Popen(
            [sys.executable, BENCH / "latency_proxy.py", "--target-port", os.environ["PGPORT"],
             "--rtt-ms", str(self.rtt_ms)],
            stdout=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline().split()
        if line[:2] != ["listening", "127.0.0.1"]:
            self.process.kill()
            sys.exit("bench: the latency proxy did not start")
        self.port = int(line[2])
        self.closed = queue.Queue()
        threading.Thread(target=self.read_closed, daemon=True).start()
        self.measured_rtt_ms = self.measure()
        self.round_trips()
        return self

    def read_closed(self):
        for line in self.process.stdout:
            if line.startswith("closed "):
                self.closed.put(int(line.split()[1]))

    def round_trips(self):
        """Round trips of the connections closed since the last call (None: no proxy)."""
        if self.process is None:
            return None
        total = self.closed.get(timeout=10)  # the proxy reports a connection just after it ends
        time.sleep(0.1 + self.rtt_ms / 1000)  # and any other connection of the same run
        while not self.closed.empty():
            total += self.closed.get()
        return total

    def measure(self):
        script = "\\timing on\n" + "SELECT 1;\n" * 20
        output = capture([PG_BIN / "psql", "-X", "-q", "-At", "-h", "127.0.0.1", "-p", str(self.port)],
                         input=script)
        times = [float(line.split()[1]) for line in output.splitlines() if line.startswith("Time:")]
        return statistics.median(times)

    def __exit__(self, *exc):
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)


def admin(sql):
    subprocess.run([PG_BIN / "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql],
                   env=socket_env(PGOPTIONS="-c client_min_messages=warning"), check=True)


def socket_env(**extra):
    return {**os.environ, "PGHOST": os.environ["PG_SOCKET_DIR"], **extra}


def capture(command, input=None, env=None):
    return subprocess.run(command, input=input, env=env, check=True, stdout=subprocess.PIPE,
                          text=True).stdout


def digest(*parts):
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()[:12]


def rel(path):
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return str(path)


def fmt_ms(rtt):
    return "direct" if rtt is None else f"{rtt:g} ms"


def print_table(header, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(cell).rjust(w) for cell, w in zip(row, widths)))


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes a plain-format dump with at least SIZE_MB of COPY data, streaming to OUT.

    bench/gen_copy_dump.py OUT [--size-mb 1100] [--seed S]

The file looks like pg_dump's output (preamble SETs, `\\restrict`, CREATE TABLE, one
`COPY ... FROM stdin;` block per table ending in `\\.`, then constraints and `\\unrestrict`),
for the memory benchmark: loading it must not make the loader's memory grow with the data.
Rows hold tabs, escaped backslashes and newlines, non-ASCII text and long jsonb values, so
lines vary from a few bytes to about 4 KB. Deterministic for a seed; written in batches, never
held in memory. Prints the COPY data size and the row count.
"""

import argparse
import os
import random

TABLES = ["events", "ci_job_artifacts", "audit_events", "notes"]
BATCH_ROWS = 5000
NULL = "\\N"
RESTRICT_KEY = "structureloaderbenchcopy"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--size-mb", type=int, default=1100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    per_table = args.size_mb * 1024 * 1024 // len(TABLES)
    temporary = f"{args.out}.{os.getpid()}.tmp"
    data_bytes = rows = 0
    with open(temporary, "w", encoding="utf-8", newline="\n") as out:
        out.write(PREAMBLE.replace("KEY", RESTRICT_KEY))
        for table in TABLES:
            out.write(CREATE_TABLE.format(table=table))
        # Pre-built pieces keep generation fast enough for a gigabyte; the random choice
        # among them keeps lines varied.
        texts = [copy_escaped(random_text(rng, n)) for n in (0, 8, 40, 200, 1000, 3000) for _ in range(20)]
        payloads = [random_payload(rng) for _ in range(200)]
        for table in TABLES:
            out.write(
                f"\n--\n-- Data for Name: {table}; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n"
                f"COPY public.{table} (id, project_id, author_id, created_at, action, title, "
                "payload, tags) FROM stdin;\n"
            )
            written = 0
            row_id = 0
            while written < per_table:
                lines = []
                for _ in range(BATCH_ROWS):
                    row_id += 1
                    title = rng.choice(texts)
                    lines.append(
                        f"{row_id}\t{rng.randrange(1, 100000)}\t"
                        f"{rng.choice((NULL, str(rng.randrange(1, 5000000))))}\t"
                        f"2024-{row_id % 12 + 1:02d}-{row_id % 28 + 1:02d} "
                        f"{row_id % 24:02d}:{row_id % 60:02d}:{row_id % 59:02d}.{row_id % 997:06d}+00\t"
                        f"{row_id % 7}\t{title}\t{rng.choice(payloads)}\t"
                        f"{{{rng.choice(('ci', 'security', 'ops'))},{row_id % 31}}}\n"
                    )
                chunk = "".join(lines)
                out.write(chunk)
                written += len(chunk.encode("utf-8"))
                rows += BATCH_ROWS
            data_bytes += written
            out.write("\\.\n\n")
        for table in TABLES:
            out.write(
                f"\n--\n-- Name: {table} {table}_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n"
                f"--\n\nALTER TABLE ONLY public.{table}\n    ADD CONSTRAINT {table}_pkey PRIMARY KEY (id);\n"
            )
        out.write(f"\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict {RESTRICT_KEY}\n\n")
    os.replace(temporary, args.out)
    print(f"{data_bytes} bytes of COPY data in {rows} rows")


def random_text(rng, length):
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789-_.:/äöüéñ€漢字"
    return "".join(rng.choice(alphabet) for _ in range(length))


def copy_escaped(text):
    """Puts a backslash, a tab and a newline, escaped as COPY's text format wants, into text."""
    if len(text) < 40:
        return text
    return text[:10] + "\\\\" + text[10:20] + "\\t" + text[20:30] + "\\n" + text[30:]


def random_payload(rng):
    keys = ["sha", "ref", "status", "duration", "runner", "stage", "message"]
    items = [f'"{k}": "{random_text(rng, rng.randrange(4, 60))}"' for k in rng.sample(keys, 4)]
    return "{" + ", ".join(items) + "}"


PREAMBLE = """--
-- PostgreSQL database dump
--

\\restrict KEY

-- Dumped from database version 15.18
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;
"""

CREATE_TABLE = """
--
-- Name: {table}; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.{table} (
    id bigint NOT NULL,
    project_id integer NOT NULL,
    author_id bigint,
    created_at timestamp with time zone NOT NULL,
    action smallint NOT NULL,
    title text,
    payload jsonb,
    tags text[]
);
"""

if __name__ == "__main__":
    main()

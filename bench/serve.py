"""The look-up server against the look-up command: what a caller waits for an answer (issue 9).

Run from the repository root (not part of the unit tests), on a catalogue the scale bench
built (``bench/scale.py --sizes 100000 --work DIR``, which also leaves the 20 edited query
files ``DIR/query-<size>-<n>.jpg``):

    .venv/bin/python bench/serve.py DIR/provcat_scale_100000.db [--rounds 3]
    .venv/bin/python bench/serve.py postgresql+psycopg://.../provcat_scale_10000 --work DIR

It prints, in one run and on the same query files:

- **the command**: ``provcat similar QUERY`` in a process of its own, start to answer (the
  interpreter, the imports, the index's load and the look-up), for 5 of the queries: what a
  caller that cannot keep a pipe open paid before ``provcat serve``;
- **the server's start**: ``provcat serve --port 0`` started until it says it listens (the
  index loaded), once;
- **a request**: each query file POSTed to ``/similar``, one at a time over ``--rounds``
  rounds, each on a new connection, from sending the bytes to the answer read: p50 / p95;
- **in process**: ``Catalogue.similar`` of the same files in this process, the index loaded
  (the same look-up without HTTP, the upload's decoding from memory or a file aside), p50 /
  p95: the floor a request can reach;
- **clients at once**: the 20 files POSTed by 2 and 4 clients at once, look-ups answered per
  second against one client's;

with the ratios: the command's time over a request's (what the server saves a caller), a
request over in process (what HTTP costs), and the answers compared (every request's
matches the same as in process, image for image and relation for relation).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import PROVCAT, percentile

from provcat.catalogue import Catalogue

#: Queries the command is timed on (each a process of its own: 1-3 s).
COMMANDS = 5


def post(port: int, data: bytes) -> tuple[float, dict[str, Any]]:
    """One request on a new connection: seconds from sending to the answer read, and it."""
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request("POST", "/similar", body=data)
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"the server answered {response.status}: {body}")
    return elapsed, body


def summary(matches: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...]]]:
    """What an answer must agree on: each match's image and relation, in order."""
    return [(match["sha256"], tuple(match["relation"])) for match in matches]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", help="a SQLite catalogue's file, or a PostgreSQL URL")
    parser.add_argument("--work", type=Path, help="where the query files are (the scale "
                        "bench's folder; default: the SQLite catalogue's)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    postgres = args.database.startswith("postgresql")
    if postgres and args.work is None:
        parser.error("a PostgreSQL catalogue needs --work, the scale bench's folder")
    url = args.database if postgres else f"sqlite:///{Path(args.database).resolve()}"
    work = args.work or Path(args.database).resolve().parent
    queries = sorted(work.glob("query-*-*.jpg"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    if not queries:
        parser.error(f"no query-<size>-<n>.jpg in {work}: run bench/scale.py there first")
    data = [query.read_bytes() for query in queries]
    print(f"# The look-up server against the command, on {args.database.rsplit('/', 1)[-1]}\n")
    print(f"{len(queries)} query files (the scale bench's edited copies), "
          f"{args.rounds} rounds of requests.\n")  # fmt: skip

    commands = []
    for query in queries[:COMMANDS]:
        start = time.perf_counter()
        subprocess.run([*PROVCAT, "--db", url, "similar", str(query)], capture_output=True,
                       check=True)  # fmt: skip
        commands.append(time.perf_counter() - start)

    start = time.perf_counter()
    server = subprocess.Popen(
        [*PROVCAT, "--db", url, "serve", "--port", "0"], stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        started = time.perf_counter() - start
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not found:
            raise RuntimeError(f"the server did not start: {line}{server.stderr.read()}")
        port = int(found.group(1))
        post(port, data[0])  # one untimed request, as in process below
        requests: list[float] = []
        answers: dict[int, list[dict[str, Any]]] = {}
        for _round in range(args.rounds):
            for number, body in enumerate(data):
                elapsed, answer = post(port, body)
                requests.append(elapsed)
                answers[number] = answer["matches"]
        rates = {}
        for clients in (1, 2, 4):
            with ThreadPoolExecutor(clients) as pool:
                start = time.perf_counter()
                list(pool.map(lambda body: post(port, body), data * clients))
                rates[clients] = clients * len(data) / (time.perf_counter() - start)
    finally:
        server.terminate()
        server.communicate(timeout=120)

    catalogue = Catalogue(url)
    catalogue.similar(queries[0])
    local: list[float] = []
    agree = 0
    for _round in range(args.rounds):
        for number, query in enumerate(queries):
            start = time.perf_counter()
            found_here = [match.to_dict() for match in catalogue.similar(query)]
            local.append(time.perf_counter() - start)
            agree += summary(json.loads(json.dumps(found_here, default=str))) == summary(
                answers[number]
            )
    catalogue.close()

    command = statistics.median(commands)
    request = statistics.median(requests)
    here = statistics.median(local)
    print("| what a caller waits for | p50 | p95 |")
    print("|---|---|---|")
    print(f"| `provcat similar QUERY`, a process each (start to answer) | {command:.2f} s "
          f"| {max(commands):.2f} s (most) |")  # fmt: skip
    print(f"| `provcat serve` started until it listens (once) | {started:.2f} s | |")
    print(f"| a request to the server (POST /similar, a new connection each) "
          f"| {request * 1000:.0f} ms | {percentile(requests, 0.95) * 1000:.0f} ms |")  # fmt: skip
    print(f"| `Catalogue.similar` in this process (no HTTP) | {here * 1000:.0f} ms "
          f"| {percentile(local, 0.95) * 1000:.0f} ms |")  # fmt: skip
    print()
    print(f"The command takes {command / request:.1f}x a request; a request "
          f"{request / here:.2f}x the look-up in process. Answers the same as in process: "
          f"{agree} of {len(local)}.")  # fmt: skip
    print()
    print("| clients at once | look-ups / s | vs one client |")
    print("|---|---|---|")
    for clients, rate in rates.items():
        print(f"| {clients} | {rate:.1f} | {rate / rates[1]:.2f} |")


if __name__ == "__main__":
    main()

"""Server half of bench/http.py: the real app and a bare aiohttp "hello" app, in one process and one event
loop, each on its own loopback port (0: any free port).

    python bench/_http_server.py --db-url URL --data-dir DIR [--port 0] [--hello-port 0]

The database must already be migrated and seeded. Prints one line ``READY {"app_port": .., "hello_port":
..}`` once both listen, and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import os
import sys

_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
# `python bench/x.py` puts bench/ first on sys.path, where http.py would hide the standard library's http.
for _entry in [p for p in sys.path if os.path.abspath(p or os.curdir) == _BENCH_DIR]:
    sys.path.remove(_entry)
sys.path.insert(0, os.path.dirname(_BENCH_DIR))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
from pathlib import Path  # noqa: E402

from aiohttp import web  # noqa: E402

from teleconsult.app import create_app  # noqa: E402
from teleconsult.settings import Settings  # noqa: E402

HOST = "127.0.0.1"


async def hello(_request: web.Request) -> web.Response:
    return web.Response(text="hello")


def hello_app() -> web.Application:
    app = web.Application()  # no middlewares: the floor any aiohttp handler pays
    app.router.add_get("/", hello)
    return app


async def start(app: web.Application, port: int) -> tuple[web.AppRunner, int]:
    # access_log=None as `teleconsult serve` (cli.py) runs the app.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, port).start()
    address = runner.addresses[0]
    return runner, int(address[1])


async def serve(db_url: str, data_dir: Path, port: int, hello_port: int) -> None:
    settings = Settings(mode="test", database_url=db_url, data_dir=data_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app_runner, app_port = await start(create_app(settings), port)
    hello_runner, hello_port = await start(hello_app(), hello_port)
    try:
        print("READY " + json.dumps({"app_port": app_port, "hello_port": hello_port}), flush=True)
        await stop.wait()
    finally:
        await hello_runner.cleanup()
        await app_runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hello-port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.db_url, args.data_dir, args.port, args.hello_port))


if __name__ == "__main__":
    main()

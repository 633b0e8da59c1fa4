"""``scsim serve``: the workbench on uvicorn. Kept light at import (the CLI imports it
for every command); FastAPI and uvicorn load only when the server starts."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from scsim.errors import OptionError

LOOPBACK = "127.0.0.1"


def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback, others can reach it.")
    ] = LOOPBACK,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    store: Annotated[
        Path, typer.Option("--store", help="The results store (a DuckDB file).", dir_okay=False)
    ] = Path("scsim.duckdb"),
    open_: Annotated[
        bool, typer.Option("--open", help="Open the workbench in the default browser.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Runs that compute at once (default: one per two cores)."),
    ] = None,
) -> None:
    """Start the workbench: pick a regime, move its sliders, watch runs live in the
    browser, compare and explain them. Ctrl+C stops it."""
    import uvicorn

    from scsim.web.app import create_app

    if not store.parent.is_dir():
        raise OptionError(f"--store {str(store)!r}: directory {str(store.parent)!r} does not exist")
    _check_port(host, port)
    everywhere = host in ("0.0.0.0", "::")
    shown = "localhost" if host == LOOPBACK or everywhere else host
    url = f"http://{shown}:{port}/"
    if not _is_loopback(host):
        typer.echo(
            f"warning: listening on {host}: anyone who can reach port {port} can run "
            "simulations on this machine and read its stored runs",
            err=True,
        )
    elsewhere = " (or this machine's address on the network)" if everywhere else ""
    typer.echo(f"scsim workbench: open {url}{elsewhere} in your browser (Ctrl+C stops it)")
    if open_:
        threading.Thread(target=_open_when_up, args=(host, port, url), daemon=True).start()
    uvicorn.run(create_app(store, slots=workers), host=host, port=port, log_level="warning")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_port(host: str, port: int) -> None:
    """Refuse a port already taken, with the message rather than uvicorn's trace."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise OptionError(f"--host {host!r}: not an address of this machine ({e.strerror})") from e
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            raise OptionError(
                f"--port {port}: cannot listen on {host}:{port} ({e.strerror}); "
                "pick another with --port"
            ) from e


def _open_when_up(host: str, port: int, url: str) -> None:
    """Open the browser once the server accepts connections."""
    import webbrowser

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                webbrowser.open(url)
                return
        except OSError:
            time.sleep(0.2)


@contextlib.contextmanager
def running(store: str | Path, slots: int | None = None) -> Iterator[str]:
    """The workbench on a free loopback port in a thread of this process, for tests,
    benchmarks and the screenshot script; yields its URL and stops it on exit."""
    import uvicorn

    from scsim.web.app import create_app

    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(store, slots=slots), host=LOOPBACK, port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the workbench server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{LOOPBACK}:{port}/"
    finally:
        server.should_exit = True
        thread.join(30)

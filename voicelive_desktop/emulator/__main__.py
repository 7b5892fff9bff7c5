"""Run the emulator alone: ``python -m voicelive_desktop.emulator --port 8765 --api-key demo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from .server import Emulator, EmulatorOptions


async def _serve(args: argparse.Namespace) -> None:
    options = EmulatorOptions(
        api_key=args.api_key,
        deployments=frozenset(args.deployment) if args.deployment else None,
    )
    emulator = Emulator(options)
    endpoint = await emulator.start(args.host, args.port)
    print(f"Voice Live emulator listening. Endpoint: {endpoint}", flush=True)
    print(
        f"  api key: {'any' if args.api_key is None else 'as given with --api-key'}; voice: {emulator.voice_name}",
        flush=True,
    )
    print(f"  try: AZURE_VOICELIVE_ENDPOINT={endpoint} voicelive-desktop", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await emulator.stop()


def main() -> None:
    """Parse flags and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m voicelive_desktop.emulator",
        description="A local Voice Live-compatible service for offline use and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default="demo", help="accepted api-key header (default: demo)")
    parser.add_argument("--deployment", action="append", help="a known deployment name (repeatable); default any")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()

"""Run the emulator alone: ``python -m voicelive_desktop.emulator --port 8765 --api-key demo``.

Every fault knob has a flag (``--help`` lists them). While it runs, the control endpoint on the same port turns
them by hand, against a connected app::

    curl -s localhost:8765/emulator/state
    curl -s -XPOST localhost:8765/emulator/faults -d '{"fail_next_response": "rate_limit"}'
    curl -s -XPOST localhost:8765/emulator/faults -d '{"stall_mid_answer_s": 5}'
    curl -s -XPOST localhost:8765/emulator/faults -d '{"pace": {"cancel_delay_s": 0.5}}'
    curl -s -XPOST localhost:8765/emulator/actions -d '{"action": "malformed", "kind": "array"}'
    curl -s -XPOST localhost:8765/emulator/actions -d '{"action": "expire"}'

Run by hand, the user's transcript lands before or after the answer at random (``--transcript-order``), as it
does on the service; ``--seed`` repeats a run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from .items import Pace
from .options import MALFORMED_KINDS, TRANSCRIPT_ORDERS, EmulatorOptions
from .server import Emulator


def _refusal(text: str) -> tuple[int, str]:
    status, _, code = text.partition(":")
    return int(status), code or "Refused"


def options_from(args: argparse.Namespace) -> EmulatorOptions:
    """The emulator's options from the command line."""
    return EmulatorOptions(
        api_key=args.api_key,
        deployments=frozenset(args.deployment) if args.deployment else None,
        pace=Pace(realtime_factor=args.realtime_factor, cancel_delay_s=args.cancel_delay),
        skip_api_version_check=args.skip_api_version_check,
        validate_session=not args.lenient,
        transcript_order=None if args.transcript_order == "timed" else args.transcript_order,
        seed=args.seed,
        refuse_with=args.refuse_with,
        retry_after_s=args.retry_after,
        drop_after_events=args.drop_after_events,
        inject_error_after=args.inject_error_after,
        close_after_s=args.close_after,
        fail_next_response=args.fail_next_response,
        incomplete_next_response=args.incomplete_next_response,
        fail_next_transcription=args.fail_next_transcription,
        warning_after=args.warning_after,
        session_lifetime_s=args.session_lifetime,
        announce_expiry=not args.no_expires_at,
        malformed_after=args.malformed_after,
        malformed_kind=args.malformed_kind,
        malformed_mid_answer=args.malformed_mid_answer,
        stall_mid_answer_s=args.stall_mid_answer,
        drop_after_audio_chunks=args.drop_after_audio_chunks,
        drop_after_appends=args.drop_after_appends,
    )


async def _serve(args: argparse.Namespace) -> None:
    emulator = Emulator(options_from(args))
    endpoint = await emulator.start(args.host, args.port)
    print(f"Voice Live emulator listening. Endpoint: {endpoint}", flush=True)
    print(
        f"  api key: {'any' if args.api_key is None else 'as given with --api-key'}; voice: {emulator.voice_name}",
        flush=True,
    )
    print(f"  try: AZURE_VOICELIVE_ENDPOINT={endpoint} voicelive-desktop", flush=True)
    print(f"  faults by hand: curl -XPOST {endpoint}/emulator/faults -d '{{...}}'; state: {endpoint}/emulator/state")
    try:
        await asyncio.Event().wait()
    finally:
        await emulator.stop()


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m voicelive_desktop.emulator",
        description="A local Voice Live-compatible service for offline use and tests (strict, as the service).",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--api-key", default="demo", help="accepted api-key header (default: demo)")
    p.add_argument("--deployment", action="append", help="a known deployment name (repeatable); default any")
    p.add_argument("--verbose", action="store_true")
    rules = p.add_argument_group("strictness and timing")
    rules.add_argument("--skip-api-version-check", action="store_true", help="accept any api-version")
    rules.add_argument("--lenient", action="store_true", help="accept any session.update / response.create")
    rules.add_argument("--transcript-order", choices=[*TRANSCRIPT_ORDERS, "timed"], default="random")
    rules.add_argument("--seed", type=int, default=0, help="seed for the random transcript order")
    rules.add_argument("--realtime-factor", type=float, default=1.0, help="assistant audio speed (default 1.0)")
    rules.add_argument("--cancel-delay", type=float, default=0.05, help="seconds before a cancel takes effect")
    faults = p.add_argument_group("faults (also settable at run time: POST /emulator/faults)")
    faults.add_argument(
        "--refuse-with", type=_refusal, metavar="STATUS:CODE", help="refuse handshakes, e.g. 429:TooManyRequests"
    )
    faults.add_argument("--retry-after", type=float, metavar="S")
    faults.add_argument("--drop-after-events", type=int, metavar="N")
    faults.add_argument("--inject-error-after", type=int, metavar="N")
    faults.add_argument("--close-after", type=float, metavar="S", help="close 1001 after S seconds")
    faults.add_argument("--fail-next-response", metavar="PRESET", help="rate_limit or identity")
    faults.add_argument("--incomplete-next-response", choices=["content_filter", "max_output_tokens"])
    faults.add_argument("--fail-next-transcription", action="store_true")
    faults.add_argument("--warning-after", type=int, metavar="N")
    faults.add_argument("--session-lifetime", type=float, metavar="S", help="session_expired after S seconds")
    faults.add_argument("--no-expires-at", action="store_true", help="expire without announcing expires_at")
    faults.add_argument("--malformed-after", type=int, metavar="N")
    faults.add_argument("--malformed-kind", choices=MALFORMED_KINDS, default="not_json")
    faults.add_argument("--malformed-mid-answer", choices=MALFORMED_KINDS)
    faults.add_argument("--stall-mid-answer", type=float, metavar="S")
    faults.add_argument("--drop-after-audio-chunks", type=int, metavar="K")
    faults.add_argument("--drop-after-appends", type=int, metavar="K")
    return p


def main() -> None:
    """Parse flags and serve until interrupted."""
    args = parser().parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()

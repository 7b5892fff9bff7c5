"""A small HTTP control endpoint, so each fault can be tried by hand against a running app.

- ``GET /emulator/state``: the knobs and each connection (model, api-version, session, items, active response).
- ``POST /emulator/faults`` with a JSON object of knobs, e.g. ``{"fail_next_response": "rate_limit"}`` or
  ``{"pace": {"cancel_delay_s": 0.5}}``: set them on the running emulator (null turns a knob off).
- ``POST /emulator/actions`` with ``{"action": ..., "connection": N}`` (default: the newest open connection):
  ``warning``, ``error``, ``malformed`` (``"kind"``), ``drop``, ``close`` (``"code"``, ``"reason"``), ``expire``.

It serves on the emulator's own port and has no authentication: it is meant for a loopback address.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .items import Pace
from .options import MALFORMED_FRAMES, EmulatorOptions
from .protocol import RequestError, error_event

if TYPE_CHECKING:
    from .server import Emulator


def _opt(kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else kind(v)


def _refusal(v: Any) -> tuple[int, str] | None:
    return None if v is None else (int(v[0]), str(v[1]))


def _failure(v: Any) -> Any:
    return v if v is None or isinstance(v, dict) else str(v)


KNOBS: dict[str, Callable[[Any], Any]] = {
    "deployments": lambda v: None if v is None else frozenset(map(str, v)),
    "drop_after_events": _opt(int),
    "close_after_s": _opt(float),
    "close_code": int,
    "close_reason": str,
    "inject_error_after": _opt(int),
    "refuse_with": _refusal,
    "retry_after_s": _opt(float),
    "skip_api_version_check": bool,
    "validate_session": bool,
    "transcript_order": _opt(str),
    "seed": int,
    "fail_next_response": _failure,
    "incomplete_next_response": _opt(str),
    "fail_next_transcription": bool,
    "warning_after": _opt(int),
    "session_lifetime_s": _opt(float),
    "announce_expiry": bool,
    "malformed_after": _opt(int),
    "malformed_kind": str,
    "malformed_mid_answer": _opt(str),
    "stall_mid_answer_s": _opt(float),
    "drop_after_audio_chunks": _opt(int),
    "drop_after_appends": _opt(int),
}
PACE_KNOBS = tuple(f.name for f in dataclasses.fields(Pace))


def apply_knobs(options: EmulatorOptions, body: dict[str, Any]) -> None:
    """Set knobs from JSON; checked whole first (a bad one changes nothing). Raises ValueError."""
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name == "pace":
            if not isinstance(value, dict) or any(k not in PACE_KNOBS for k in value):
                raise ValueError(f"pace takes {', '.join(PACE_KNOBS)}")
            continue
        if name not in KNOBS:
            raise ValueError(f"unknown knob {name!r}; knobs: {', '.join([*KNOBS, 'pace'])}")
        try:
            changes[name] = KNOBS[name](value)
        except (TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"bad value for {name}: {value!r}") from exc
    dataclasses.replace(options, **changes)  # runs the options' own checks on the result
    for name, value in changes.items():
        setattr(options, name, value)
    for name, value in body.get("pace", {}).items():
        setattr(options.pace, name, float(value))


def knobs_json(options: EmulatorOptions) -> dict[str, Any]:
    """The knobs as JSON (the key and tokens are not shown, only whether they are set)."""
    out: dict[str, Any] = {name: getattr(options, name) for name in KNOBS}
    out["deployments"] = None if options.deployments is None else sorted(options.deployments)
    out["refuse_with"] = None if options.refuse_with is None else list(options.refuse_with)
    out["pace"] = dataclasses.asdict(options.pace)
    out["api_key"] = "any" if options.api_key is None else "set"
    out["bearer_tokens"] = len(options.bearer_tokens)
    return out


def state_json(emulator: Emulator) -> dict[str, Any]:
    """What the emulator knows, for a person debugging a client."""
    connections = []
    for index, record in enumerate(emulator.connections):
        conv = record.conversation
        entry: dict[str, Any] = {
            "connection": index,
            "open": record.open,
            "query": record.query,
            "received": len(record.received),
            "sent": len(record.sent),
            "errors": [e["error"]["code"] for e in record.sent if e.get("type") == "error"],
        }
        if conv is not None:
            entry.update(
                family=conv.family.value,
                session=conv.session,
                active_response=None if conv.active is None else conv.active.id,
                input_audio_ms=conv.audio.clock_ms,
                items=[
                    {"id": i.id, "role": i.role, "text": i.text, "audio_ms": i.audio_ms, "truncated": i.truncated}
                    for i in conv.items
                ],
            )
        connections.append(entry)
    return {"endpoint": emulator.endpoint, "knobs": knobs_json(emulator.options), "connections": connections}


def add_routes(app: web.Application, emulator: Emulator) -> None:
    """Serve the control endpoint beside the realtime path."""

    async def state(_request: web.Request) -> web.Response:
        return web.json_response(state_json(emulator))

    async def faults(request: web.Request) -> web.Response:
        body = await _json(request)
        try:
            apply_knobs(emulator.options, body)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(knobs_json(emulator.options))

    async def actions(request: web.Request) -> web.Response:
        body = await _json(request)
        try:
            done = await run_action(emulator, body)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"done": done})

    app.router.add_get("/emulator/state", state)
    app.router.add_post("/emulator/faults", faults)
    app.router.add_post("/emulator/actions", actions)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="send a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="send a JSON object")
    return body


async def run_action(emulator: Emulator, body: dict[str, Any]) -> str:
    """Do one fault now on an open connection; returns what was done."""
    from .server import WARNING, expire_now

    if not emulator.links:
        raise ValueError("no open connection")
    index = int(body.get("connection", max(emulator.links)))
    link = emulator.links.get(index)
    if link is None:
        raise ValueError(f"connection {index} is not open; open: {sorted(emulator.links)}")
    action = body.get("action")
    if action == "warning":
        await link.send({"type": "warning", "event_id": "event_warning", "warning": body.get("warning", WARNING)})
    elif action == "error":
        err = RequestError(str(body.get("code", "injected_error")), str(body.get("message", "Injected test error.")),
                           kind=str(body.get("kind", "server_error")))  # fmt: skip
        await link.send({"event_id": "event_injected", **error_event(err, None)})
    elif action == "malformed":
        kind = str(body.get("kind", "not_json"))
        if kind not in MALFORMED_FRAMES:
            raise ValueError(f"kind is one of {', '.join(MALFORMED_FRAMES)}")
        await link.send_raw(MALFORMED_FRAMES[kind])
    elif action == "drop":
        link.abort()
    elif action == "close":
        await link.close(int(body.get("code", 1001)), str(body.get("reason", "closed by the emulator")))
    elif action == "expire":
        await expire_now(link, float(body.get("lifetime_s", emulator.options.session_lifetime_s or 1800)))
    else:
        raise ValueError("action is one of warning, error, malformed, drop, close, expire")
    return f"{action} on connection {index}"

"""Pytest plugin: a running demo estate for any test (``pytest_plugins = ["tests.estate"]``).

Fixture ``estate_factory`` (session scope) builds an estate, writes its HL7 logs and
``truth.json`` to a temporary folder and serves it over real HTTP (uvicorn in a thread)::

    def test_something(estate_factory):
        estate = estate_factory(facilities=1, days=2, faults="default", volume_scale=0.2)
        estate.base_url      # "http://127.0.0.1:<port>"
        estate.out_dir       # Path with hl7/ and truth.json
        estate.truth         # the truth dict; truth["http_faults"] grows as faults are served
        estate.sources       # the five demo sources: dicts valid as SourceConfig
        estate.estate        # the simulator.estate.Estate behind it
        estate.server        # the simulator.server.EstateServer (clock, faults, tokens)
        estate.rendering     # the simulator.rendering.Rendering it is served and logged in

``estate_factory(seed=7, facilities=1, days=2, faults="default", volume_scale=0.2,
end=END, fresh=False, live=False, token_ttl_seconds=300, timeout_fault_seconds=15,
rendering="plain", **fault_overrides)``: ``faults`` is a preset (none/default/high),
``fault_overrides`` set single rates (``http_429=0.5``). ``rendering`` names a preset of
``simulator.rendering.RENDERINGS`` (or is a ``Rendering``): the same estate and truth,
written the way other systems write it, and ``sources`` set up (mapping overrides under
``out_dir/mappings``) to read it. ``end`` defaults to a fixed date (2026-11-20 UTC) so
payloads are reproducible; the served clock is then fixed at ``end``. ``live=True`` is
the real-time estate of ``chargeline simulate --live``: the window ends now (unless
``end`` is given), a day ahead is generated and revealed by the wall clock (APIs, engine
counters, and HL7 logs appended every second).

Calls with the same arguments share one running estate for the session. HTTP faults hit
only the first attempt of a URL, so a test that needs its own first attempts passes
``fresh=True`` for a private estate and server. ``estate_config(...)`` gives the
``EstateConfig`` for the same arguments (to build an estate without serving it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from simulator.config import EstateConfig, FaultRates
from simulator.estate import Estate, build_estate
from simulator.files import LiveLogs, write_estate_files
from simulator.rendering import PLAIN, Rendering, get_rendering, rendering_name
from simulator.server import EstateServer, serve_in_thread
from simulator.sources import demo_sources

END = datetime(2026, 11, 20, tzinfo=UTC)


def _wall_ms() -> int:
    return int(time.time() * 1000)


def _now_minute() -> datetime:
    return datetime.fromtimestamp(_wall_ms() // 60_000 * 60, UTC)


@dataclass(frozen=True)
class RunningEstate:
    base_url: str
    out_dir: Path
    truth: dict[str, Any]
    sources: list[dict[str, Any]]
    estate: Estate
    server: EstateServer
    rendering: Rendering = PLAIN


def estate_config(seed: int = 7, facilities: int = 1, days: int = 2, faults: str = "default",
                  volume_scale: float = 0.2, end: datetime = END,
                  **fault_overrides: float) -> EstateConfig:
    """The ``EstateConfig`` the factory builds for these arguments."""
    return EstateConfig(seed=seed, facilities=facilities, days=days, end=end,
                        volume_scale=volume_scale,
                        faults=FaultRates.preset(faults, **fault_overrides))


@pytest.fixture(scope="session")
def estate_factory(tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Callable[..., RunningEstate]]:
    """Build, write and serve demo estates; see the module docstring."""
    cache: dict[tuple[Any, ...], RunningEstate] = {}
    with ExitStack() as stack:

        def make(seed: int = 7, facilities: int = 1, days: int = 2, faults: str = "default",
                 volume_scale: float = 0.2, end: datetime = END, fresh: bool = False,
                 live: bool = False, token_ttl_seconds: float = 300.0,
                 timeout_fault_seconds: float = 15.0, rendering: str | Rendering = "plain",
                 **fault_overrides: float) -> RunningEstate:
            chosen = get_rendering(rendering)
            key = (seed, facilities, days, faults, volume_scale, end, live, token_ttl_seconds,
                   timeout_fault_seconds, chosen, tuple(sorted(fault_overrides.items())))
            if not fresh and key in cache:
                return cache[key]
            config = estate_config(seed, facilities, days, faults, volume_scale,
                                   _now_minute() if live and end is END else end,
                                   **fault_overrides)
            if live:
                config = config.model_copy(update={"live_horizon_days": 1})
            estate = build_estate(config, progress=False)
            out = tmp_path_factory.mktemp(f"estate-s{seed}-f{facilities}-d{days}"
                                          f"-{rendering_name(chosen)}")
            writer = write_estate_files(estate, out, _wall_ms() if live else None, chosen)
            if live:
                stack.enter_context(LiveLogs(writer))
            running = stack.enter_context(serve_in_thread(
                estate, freeze=False, live=live, token_ttl_seconds=token_ttl_seconds,
                timeout_fault_seconds=timeout_fault_seconds, rendering=chosen))
            result = RunningEstate(running.base_url, out, estate.truth,
                                   demo_sources(running.base_url, out, rendering=chosen), estate,
                                   running.server, chosen)
            if not fresh:
                cache[key] = result
            return result

        yield make

"""The cursor suite: what the CDK's own cursor costs per lead, measured in process.

The connector suite says how fast ours reads; this says how fast any reader keeping per-bot state
with the stock cursor could read. The CDK calls the stream cursor's `observe` once for every lead
a read emits, on the thread that reads them, whatever the manifest's components do. That cost,
times the leads, added to the minimal manifest's whole full refresh (which has no cursor), bounds
the ratio to it that ours can reach (`report.ceiling_table`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airbyte_cdk.sources.types import Record, StreamSlice

from bench.connector import global_cursor_manifest
from bench.rows import Measure, Name, Row
from source_chatnode.components import ParsedInstant, SliceWithCachedHash
from source_chatnode.run import declarative_source, load_manifest

if TYPE_CHECKING:
    from airbyte_cdk.sources.streams.concurrent.cursor import Cursor

    from bench.run_state import Run

FIRST_LEAD = datetime(2024, 1, 1, tzinfo=UTC)
LEAD_EVERY = timedelta(seconds=7, microseconds=123_457)
"""Ascending leads with every fraction digit used: every one moves the cursor, its worst case."""


def leads_cursor(manifest: dict[str, Any], bot_id: str) -> tuple[Cursor, StreamSlice]:
    """The cursor a read of one bot's leads builds from `manifest`, and the bot's slice."""
    config = {"api_key": "-", "bot_ids": [bot_id]}
    source = declarative_source(config=config, manifest=manifest)
    stream = next(s for s in source.streams(config) if s.name == "leads")
    cursor = stream.cursor  # type: ignore[attr-defined]  # a DefaultStream's
    (bot_slice,) = cursor.stream_slices()
    return cursor, bot_slice


def ascending_leads(leads: int, bot_slice: StreamSlice) -> list[Record]:
    """Leads of the slice's bot as `CachedSliceHashRetriever` emits them: `created_at` parsed
    once, the slice hashed once."""
    once_hashed, bot_id = SliceWithCachedHash(bot_slice), bot_slice.partition["bot_id"]
    times = (FIRST_LEAD + LEAD_EVERY * n for n in range(leads))
    return [
        Record(
            data={"session_id": str(n), "created_at": ParsedInstant(f"{at:%Y-%m-%dT%H:%M:%S.%fZ}"),
                  "bot_id": bot_id},
            stream_name="leads",
            associated_slice=once_hashed,
        )
        for n, at in enumerate(times)
    ]  # fmt: skip


def observe_seconds(manifest: dict[str, Any], leads: int, bot_id: str) -> float:
    """Seconds the leads stream's cursor takes to observe `leads` leads of one bot."""
    cursor, bot_slice = leads_cursor(manifest, bot_id)
    batch = ascending_leads(leads, bot_slice)
    observe, started = cursor.observe, time.perf_counter()
    for record in batch:
        observe(record)
    return time.perf_counter() - started


def run_cursor_suite(run: Run) -> None:
    """One row per cursor, our per-bot one and the global-cursor variant's: the fastest run."""
    config, leads = run.config, run.config.observe_leads
    manifests = {Name.OURS: load_manifest(), Name.GLOBAL_CURSOR: global_cursor_manifest()}
    for name, manifest in manifests.items():
        row = Row("cursor", name, "incremental", leads, Measure.OBSERVE)
        for _ in range(config.runs):
            row.runs.append(round(observe_seconds(manifest, leads, config.bot_id), 3))
        row.seconds = min(row.runs)
        row.records_per_s, row.records = leads / row.seconds, leads
        row.note = f"{row.seconds / leads * 1e6:.2f} µs per lead"
        run.put(row)
        run.say(f"cursor: {name} observed {leads:,} leads in {row.seconds:.2f} s ({row.note})")

"""The tap's exactly-once filter over the connector's inclusive cursor (source_chatnode/singer/boundary.py)."""

from __future__ import annotations

from typing import Any

from source_chatnode.singer.boundary import BoundaryKeys

KEY = ("bot_id", "session_id")


def lead(bot: str, session: str, created_at: Any) -> dict[str, Any]:
    return {"bot_id": bot, "session_id": session, "created_at": created_at}


def connector_state(**cursors: str) -> dict[str, Any]:
    return {
        "states": [
            {"partition": {"bot_id": bot}, "cursor": {"created_at": at}}
            for bot, at in cursors.items()
        ]
    }


def first_run(*records: dict[str, Any], **cursors: str) -> dict[str, Any]:
    boundary = BoundaryKeys.from_state(None, KEY, "created_at")
    assert all(boundary.admit(record) for record in records)
    return boundary.to_state(connector_state(**cursors))


def test_a_record_delivered_at_the_cursor_is_dropped_when_it_comes_again() -> None:
    saved = first_run(
        lead("a", "s1", "2024-01-01T00:00:00Z"),
        lead("a", "s2", "2024-01-02T00:00:00.5+00:00"),
        a="2024-01-02T00:00:00.500000+0000",
    )
    again = BoundaryKeys.from_state(saved, KEY, "created_at")
    # Same instant written another way: still the same delivered record.
    assert not again.admit(lead("a", "s2", "2024-01-02T00:00:00.500Z"))


def test_a_new_record_at_the_cursor_instant_and_other_bots_pass() -> None:
    saved = first_run(lead("a", "s2", "2024-01-02T00:00:00Z"), a="2024-01-02T00:00:00.000000+0000")
    again = BoundaryKeys.from_state(saved, KEY, "created_at")
    assert again.admit(lead("a", "s3", "2024-01-02T00:00:00Z"))
    assert again.admit(lead("b", "s2", "2024-01-02T00:00:00Z"))
    assert again.admit(lead("a", "s2", "2024-01-02T00:00:01Z")), "a later instant is new"


def test_undated_records_always_pass() -> None:
    boundary = BoundaryKeys.from_state(None, KEY, "created_at")
    assert boundary.admit(lead("a", "s1", None))
    assert boundary.admit(lead("a", "s1", "not a date"))


def test_the_boundary_kept_is_every_key_at_the_bots_cursor_and_only_there() -> None:
    saved = first_run(
        lead("a", "s1", "2024-01-01T00:00:00Z"),
        lead("a", "s2", "2024-01-03T00:00:00Z"),
        lead("a", "s3", "2024-01-03T00:00:00+00:00"),
        lead("b", "s9", "2024-01-05T00:00:00Z"),
        a="2024-01-03T00:00:00.000000+0000",
        b="2024-01-04T00:00:00.000000+0000",
    )
    assert saved == {
        "a": {
            "created_at": "2024-01-03T00:00:00.000000+0000",
            "keys": [["a", "s2"], ["a", "s3"]],
        }
    }


def test_a_run_with_nothing_new_keeps_the_previous_boundary() -> None:
    saved = first_run(lead("a", "s2", "2024-01-02T00:00:00Z"), a="2024-01-02T00:00:00.000000+0000")
    again = BoundaryKeys.from_state(saved, KEY, "created_at")
    assert not again.admit(lead("a", "s2", "2024-01-02T00:00:00Z"))
    assert again.to_state(connector_state(a="2024-01-02T00:00:00.000000+0000")) == saved


def test_unreadable_saved_boundaries_are_ignored_not_fatal() -> None:
    saved = {"a": "garbage", "b": {"created_at": "nope", "keys": []}, "c": {"keys": 3}}
    boundary = BoundaryKeys.from_state(saved, KEY, "created_at")
    assert boundary.admit(lead("a", "s1", "2024-01-01T00:00:00Z"))

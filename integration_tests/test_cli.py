"""`source-chatnode` spec/check/discover/read through its CLI, against the mock API over HTTP."""

from __future__ import annotations

from datetime import datetime

from integration_tests.conftest import BOTS, Connector
from integration_tests.connector_runner import configured_catalog, state_messages


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def served_keys(connector: Connector, bots: tuple[str, ...] = BOTS) -> set[tuple[str, str]]:
    return {(bot, lead["session_id"]) for bot in bots for lead in connector.server.leads(bot)}


def test_spec_lists_exactly_the_documented_options(connector: Connector) -> None:
    run = connector.run("spec")
    assert run.returncode == 0
    properties = run.of_type("SPEC")[0]["spec"]["connectionSpecification"]["properties"]
    assert set(properties) == {"api_key", "bot_ids", "start_date", "base_url"}


def test_check_succeeds_with_a_valid_key(connector: Connector) -> None:
    run = connector.run("check", config=connector.config())
    assert run.connection_status["status"] == "SUCCEEDED"


def test_discover_offers_leads_keyed_by_bot_and_session_with_created_at_cursor(
    connector: Connector,
) -> None:
    stream = connector.run("discover", config=connector.config()).catalog["streams"][0]
    assert stream["name"] == "leads"
    assert stream["source_defined_primary_key"] == [["bot_id"], ["session_id"]]
    assert stream["default_cursor_field"] == ["created_at"]
    assert set(stream["supported_sync_modes"]) == {"full_refresh", "incremental"}


def test_full_refresh_emits_every_served_lead_exactly_once_with_its_bot(
    connector: Connector,
) -> None:
    run = connector.run(
        "read", config=connector.config(), catalog=configured_catalog("full_refresh")
    )
    assert run.returncode == 0, run.error_messages
    assert len(run.record_keys()) == len(set(run.record_keys()))
    assert set(run.record_keys()) == served_keys(connector)
    served = {lead["session_id"]: lead for lead in connector.server.leads("bot-alpha")}
    for record in run.records:
        if record["bot_id"] == "bot-alpha":
            expected = {k: v for k, v in served[record["session_id"]].items() if v is not None}
            assert {k: v for k, v in record.items() if k != "bot_id"} == expected


def test_second_incremental_sync_emits_new_leads_and_only_boundary_repeats(
    connector: Connector,
) -> None:
    catalog = configured_catalog("incremental")
    first = connector.run("read", config=connector.config(), catalog=catalog)
    assert first.returncode == 0, first.error_messages
    assert set(first.record_keys()) == served_keys(connector)
    cursors = first.bot_cursors()
    assert set(cursors) == set(BOTS)

    appended = connector.server.append("bot-alpha", count=5)
    second = connector.run(
        "read", config=connector.config(), catalog=catalog, state=state_messages(first)
    )
    assert second.returncode == 0, second.error_messages

    new_keys = {("bot-alpha", lead["session_id"]) for lead in appended}
    assert new_keys <= set(second.record_keys())
    for bot, session_id in set(second.record_keys()) - new_keys:
        lead = next(
            lead for lead in connector.server.leads(bot) if lead["session_id"] == session_id
        )
        assert instant(lead["created_at"]) == instant(cursors[bot]), "an old lead was re-emitted"
    assert instant(second.bot_cursors()["bot-alpha"]) == max(
        instant(lead["created_at"]) for lead in appended
    )
    assert second.bot_cursors()["bot-beta"] == cursors["bot-beta"]


def test_a_bot_added_later_gets_its_whole_history(connector: Connector) -> None:
    catalog = configured_catalog("incremental")
    first = connector.run("read", config=connector.config(["bot-alpha"]), catalog=catalog)
    connector.server.add_bot("bot-gamma", count=12)
    second = connector.run(
        "read",
        config=connector.config(["bot-alpha", "bot-gamma"]),
        catalog=catalog,
        state=state_messages(first),
    )
    assert second.returncode == 0, second.error_messages
    gamma = {key for key in second.record_keys() if key[0] == "bot-gamma"}
    assert gamma == served_keys(connector, ("bot-gamma",))


def test_start_date_emits_exactly_the_leads_at_or_after_it(connector: Connector) -> None:
    leads = sorted(
        connector.server.leads("bot-alpha"), key=lambda lead: instant(lead["created_at"])
    )
    start = leads[len(leads) // 2]["created_at"]
    run = connector.run(
        "read",
        config=connector.config(["bot-alpha"], start_date=instant(start).isoformat()),
        catalog=configured_catalog("incremental"),
    )
    expected = {
        ("bot-alpha", lead["session_id"])
        for lead in leads
        if instant(lead["created_at"]) >= instant(start)
    }
    assert set(run.record_keys()) == expected


def test_cursor_compares_instants_across_offsets_and_fraction_digits(connector: Connector) -> None:
    connector.server.set_leads(
        "bot-alpha",
        [
            {"session_id": "boundary", "created_at": "2024-06-30T17:32:53.518+00:00"},
            {"session_id": "old", "created_at": "2024-06-30T17:32:53Z"},
        ],
    )
    catalog = configured_catalog("incremental")
    first = connector.run("read", config=connector.config(["bot-alpha"]), catalog=catalog)
    assert {record["session_id"] for record in first.records} == {"boundary", "old"}
    connector.server.append(
        "bot-alpha",
        leads=[
            # Later instants written with other offsets and precisions: all new.
            {"session_id": "later-offset", "created_at": "2024-06-30T19:32:53.519+02:00"},
            {"session_id": "later-micro", "created_at": "2024-06-30T17:32:53.518001Z"},
            {"session_id": "later-plain", "created_at": "2024-06-30T17:32:54Z"},
            # Earlier instants that sort after the boundary as strings: not new.
            {"session_id": "earlier-offset", "created_at": "2024-06-30T19:32:53.517+02:00"},
            {"session_id": "earlier-tenth", "created_at": "2024-06-30T17:32:53.5Z"},
            # The same instant as the boundary, written differently: a boundary repeat.
            {"session_id": "same-instant", "created_at": "2024-06-30T12:32:53.518-05:00"},
        ],
    )
    second = connector.run(
        "read", config=connector.config(["bot-alpha"]), catalog=catalog, state=state_messages(first)
    )
    assert {record["session_id"] for record in second.records} == {
        "boundary",
        "same-instant",
        "later-offset",
        "later-micro",
        "later-plain",
    }
    assert instant(second.bot_cursors()["bot-alpha"]) == instant("2024-06-30T17:32:54Z")


def test_leads_without_a_usable_created_at_are_never_dropped(connector: Connector) -> None:
    connector.server.set_leads(
        "bot-alpha",
        [
            {"session_id": "dated", "created_at": "2024-06-30T17:32:53.518+00:00"},
            {"session_id": "missing"},
            {"session_id": "null", "created_at": None},
            {"session_id": "garbage", "created_at": "yesterday"},
        ],
    )
    undated = {"missing", "null", "garbage"}
    full = connector.run(
        "read", config=connector.config(["bot-alpha"]), catalog=configured_catalog("full_refresh")
    )
    assert {record["session_id"] for record in full.records} == undated | {"dated"}

    catalog = configured_catalog("incremental")
    first = connector.run("read", config=connector.config(["bot-alpha"]), catalog=catalog)
    second = connector.run(
        "read", config=connector.config(["bot-alpha"]), catalog=catalog, state=state_messages(first)
    )
    # Incremental: undated leads cannot be placed before or after the cursor, so every sync
    # emits them again (a warning says so); they never move the cursor.
    assert undated <= {record["session_id"] for record in first.records}
    assert {record["session_id"] for record in second.records} == undated | {"dated"}
    assert instant(second.bot_cursors()["bot-alpha"]) == instant("2024-06-30T17:32:53.518+00:00")
    assert "cursor" in second.stdout and "created_at" in second.stdout


def test_nulls_unknown_fields_and_out_of_order_leads_pass_through(connector: Connector) -> None:
    leads = [
        {
            "session_id": "b",
            "created_at": "2024-07-02T00:00:00Z",
            "enduser_name": None,
            "for_agent": None,
        },
        {"session_id": "a", "created_at": "2024-07-01T00:00:00Z", "crm_id": 42, "tags": ["x"]},
        {"session_id": "c", "created_at": "2024-07-03T00:00:00Z", "enduser_email": "c@example.com"},
    ]
    connector.server.set_leads("bot-alpha", leads)
    run = connector.run(
        "read", config=connector.config(["bot-alpha"]), catalog=configured_catalog("incremental")
    )
    assert run.returncode == 0, run.error_messages
    by_id = {record["session_id"]: record for record in run.records}
    assert by_id["a"]["crm_id"] == 42 and by_id["a"]["tags"] == ["x"]
    assert by_id["c"]["enduser_email"] == "c@example.com"
    assert by_id["b"].get("enduser_name") is None
    assert instant(run.bot_cursors()["bot-alpha"]) == instant("2024-07-03T00:00:00Z")

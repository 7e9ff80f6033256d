"""The schema dump's clean-up: pg_dump's own lines go, what the server says about an object stays."""

from __future__ import annotations

from scripts import schema_file


def test_the_dump_keeps_function_bodies_whole_and_drops_only_pg_dumps_own_lines() -> None:
    # Given a dump with pg_dump's preamble, a per-run restrict key, settings between objects and a
    # function whose body holds lines that look like noise
    dump = "\n".join(
        [
            "--",
            "-- PostgreSQL database dump",
            "--",
            "",
            "\\restrict AbC123",
            "SET statement_timeout = 0;",
            "",
            "--",
            "-- Name: f(); Type: FUNCTION; Schema: credsync; Owner: postgres",
            "--",
            "",
            "CREATE FUNCTION credsync.f() RETURNS void AS $$",
            "--",
            "SET x = 1;",
            "",
            "$$;",
            "",
            "",
            "SET default_table_access_method = heap;",
            "",
            "--",
            "-- PostgreSQL database dump complete",
            "--",
            "",
            "\\unrestrict AbC123",
            "",
        ]
    )
    # When it is normalised
    text = schema_file.normalize(dump)
    # Then the body is whole, the owner and every line of pg_dump's own are gone
    assert text == (
        "-- Name: f(); Type: FUNCTION; Schema: credsync\n"
        "CREATE FUNCTION credsync.f() RETURNS void AS $$\n--\nSET x = 1;\n\n$$;\n"
    )

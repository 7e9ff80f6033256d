-- 0010: bounds on what an outbox row may carry, checked at INSERT.
-- Why: the INSERT accepted any payload its other checks let through, and a long value failed the
-- host's own transaction with a message about an index it has never heard of
-- ("index row requires 11488 bytes, maximum size is 8191": a 1,000,000-character username in
-- outbox_username_idx and outbox_unfinished_key_idx), or was stored and then broke every reader
-- (an integer of 5,000 digits is valid jsonb, but Python's json refuses to load it, so the worker,
-- `credsync show` and `credsync failed` could not read the row). The bounds are decided here, once,
-- and refused with a message in the style of the checks of 0001; what passes them is stored and
-- ends done or failed like any other row. Rows inserted before this migration are not revisited:
-- the worker's payload models (worker/sync/payloads.py) apply the same key lengths and fail a row
-- that exceeds them, naming the key.
--
-- The bounds (credsync.payload_bounds() returns them, for operators and for the tests that keep
-- the worker's models in step):
--   * the payload keys the tasks declare, whatever the task and whatever the JSON type of the value
--     (a non-string counts by its JSON text, which is what the indexes hold):
--       username                    150 characters: Django's auth_user.username (max_length=150),
--                                   the LMS's and Credentials' user tables alike;
--       course_key, course_run_key  255 characters: edx-platform's CourseKeyField columns
--                                   (course_overviews_courseoverview.id, GeneratedCertificate.
--                                   course_id) and Credentials' CourseRun.key are max_length=255;
--       certificate_available_date  64 characters: an ISO 8601 date-time with microseconds and an
--                                   offset is 32, str(datetime) of Python 26.
--     Each of these keys is indexed (payload ->> 'username'; coalesce(course_key, course_run_key);
--     ordering_key is scope || ':' || the ordering keys' values): at 4 bytes a character at most,
--     150 and 255 characters keep every index row near 1 KB, well under the btree maximum of
--     2,704 bytes. As a net for a future task whose ordering key is another key, the ordering key
--     itself is also bounded in bytes.
--   * the whole payload: at most 8,192 bytes in its text form (payload::text). The largest payload
--     a task needs is under 600 bytes; 8 KiB leaves room for context keys of the host's own and
--     refuses a runaway serialization (a whole document in one key) before it bloats the outbox.
--   * nesting: at most 8 levels (the payload object is level 1). Every task's payload is one flat
--     object; a jsonb nested thousands deep is storable but overflows Python's recursion when read.
--   * numbers: at most 400 characters in their text form. jsonb keeps numbers exact and writes them
--     out without an exponent, so 1e5000 comes back as 5,001 digits, past Python's limit for an int
--     (4,300 digits); every finite double (1.8e308 is 309 digits, 5e-324 is 326 characters written
--     out) fits in 400.
--   * run_after, when the host sets it: not infinity (such a row would wait for ever, and hold back
--     every later row of its ordering key).
-- NUL characters need no check here: Postgres refuses them before any trigger runs (jsonb input
-- answers 'unsupported Unicode escape sequence' with DETAIL '\u0000 cannot be converted to text',
-- SQLSTATE 22P05; text input cannot hold a NUL byte at all). Nor do lone UTF-16 surrogates (jsonb
-- input refuses "\ud800", 22P02), or JSON nested past the server's stack (jsonb input answers
-- 'stack depth limit exceeded', 54001, at roughly 10,000 levels: the bounds above refuse far less).

CREATE FUNCTION credsync.payload_bounds(
    OUT key_max_length jsonb,
    OUT max_bytes integer,
    OUT max_depth integer,
    OUT max_number_length integer,
    OUT max_ordering_key_bytes integer
)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT '{"username": 150, "course_key": 255, "course_run_key": 255, "certificate_available_date": 64}'::jsonb,
           8192, 8, 400, 2048
$$;
COMMENT ON FUNCTION credsync.payload_bounds() IS
    'What an outbox row''s payload may carry (migration 0010): the maximum length in characters of each '
    'declared key, the payload''s size in bytes of text, its nesting depth, the length of a number, '
    'and the ordering key''s size in bytes. The INSERT trigger refuses a row beyond any of them.';

-- The same checks as 0001 (known task, payload an object, every required key present and not
-- null), then the bounds above, in this order: the first a row breaks is the one reported.
CREATE OR REPLACE FUNCTION credsync.outbox_before_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, credsync AS $$
DECLARE
    spec credsync.task%ROWTYPE;
    bounds record;
    key text;
    parts text[] := '{}';
    value_text text;
    size integer;
    depth integer;
    deepest integer;
    probe integer;
    number_text text;
    containers CONSTANT text := '? (@.type() == "object" || @.type() == "array")';
BEGIN
    SELECT * INTO spec FROM credsync.task WHERE name = NEW.task;
    IF NOT FOUND THEN
        -- A long name is cut in the message: the host sees which name, not a megabyte of it.
        RAISE EXCEPTION 'credsync.outbox: unknown task %', CASE
                WHEN NEW.task IS NULL THEN 'NULL'
                WHEN length(NEW.task) <= 100 THEN quote_literal(NEW.task)
                ELSE quote_literal(left(NEW.task, 100)) || '... ('
                    || to_char(length(NEW.task), 'FM999,999,999,999') || ' characters)'
            END
            USING ERRCODE = 'check_violation',
                  HINT = 'known tasks: ' || coalesce(
                      (SELECT string_agg(name, ', ' ORDER BY name) FROM credsync.task),
                      'none (run `credsync migrate`)');
    END IF;
    IF NEW.payload IS NULL OR jsonb_typeof(NEW.payload) <> 'object' THEN
        RAISE EXCEPTION 'credsync.outbox: the payload of task % must be a JSON object, not %',
            NEW.task, coalesce(jsonb_typeof(NEW.payload), 'NULL')
            USING ERRCODE = 'check_violation';
    END IF;
    FOREACH key IN ARRAY spec.required_keys LOOP
        IF NOT (NEW.payload ? key) OR jsonb_typeof(NEW.payload -> key) = 'null' THEN
            RAISE EXCEPTION 'credsync.outbox: task % needs payload key "%" (it is %)',
                NEW.task, key, CASE WHEN NEW.payload ? key THEN 'null' ELSE 'missing' END
                USING ERRCODE = 'check_violation',
                      HINT = 'required keys: ' || array_to_string(spec.required_keys, ', ');
        END IF;
    END LOOP;

    bounds := credsync.payload_bounds();
    -- Declared keys first: the indexes hold them, and the host learns which key is too long.
    FOR key IN SELECT jsonb_object_keys(bounds.key_max_length) LOOP
        value_text := NEW.payload ->> key;
        IF value_text IS NOT NULL AND length(value_text) > (bounds.key_max_length ->> key)::integer THEN
            RAISE EXCEPTION 'credsync.outbox: payload key "%" is %; at most %', key,
                CASE jsonb_typeof(NEW.payload -> key)
                    WHEN 'string' THEN to_char(length(value_text), 'FM999,999,999,999') || ' characters long'
                    ELSE 'a JSON ' || jsonb_typeof(NEW.payload -> key) || ' of '
                        || to_char(length(value_text), 'FM999,999,999,999') || ' characters'
                END,
                to_char((bounds.key_max_length ->> key)::integer, 'FM999,999,999,999')
                USING ERRCODE = 'check_violation',
                      HINT = 'payload keys and their maximum lengths: ' || (
                          SELECT string_agg(format('%s %s', b.key, b.value), ', ' ORDER BY b.key)
                          FROM jsonb_each_text(bounds.key_max_length) b);
        END IF;
    END LOOP;
    size := octet_length(NEW.payload::text);
    IF size > bounds.max_bytes THEN
        RAISE EXCEPTION 'credsync.outbox: the payload of task % is % bytes as JSON text; at most %',
            NEW.task, to_char(size, 'FM999,999,999,999'), to_char(bounds.max_bytes, 'FM999,999,999,999')
            USING ERRCODE = 'check_violation';
    END IF;
    -- A container at level max_depth (the payload object is level 0) nests one level too deep. The
    -- .** accessor stops at the level it is given, so the probe costs no more than the bound.
    IF jsonb_path_exists(NEW.payload,
            format('strict $.**{%s} %s', bounds.max_depth, containers)::jsonpath) THEN
        -- How deep, for the message: a binary search between the bound and what the size allows
        -- (each level takes two bytes at least).
        depth := bounds.max_depth + 1;
        deepest := size / 2;
        WHILE depth < deepest LOOP
            probe := (depth + deepest + 1) / 2;
            IF jsonb_path_exists(NEW.payload, format('strict $.**{%s} %s', probe - 1, containers)::jsonpath) THEN
                depth := probe;
            ELSE
                deepest := probe - 1;
            END IF;
        END LOOP;
        RAISE EXCEPTION 'credsync.outbox: the payload of task % is nested % levels deep; at most %',
            NEW.task, to_char(depth, 'FM999,999,999,999'), to_char(bounds.max_depth, 'FM999,999,999,999')
            USING ERRCODE = 'check_violation';
    END IF;
    -- (A payload shorter than the bound cannot hold a longer number: most skip the walk.)
    IF size > bounds.max_number_length THEN
        SELECT n::text INTO number_text
        FROM jsonb_path_query(NEW.payload, 'strict $.** ? (@.type() == "number")') AS n
        WHERE length(n::text) > bounds.max_number_length
        LIMIT 1;
    END IF;
    IF number_text IS NOT NULL THEN
        RAISE EXCEPTION 'credsync.outbox: the payload of task % holds a number of % characters (%...); at most %',
            NEW.task, to_char(length(number_text), 'FM999,999,999,999'), left(number_text, 20),
            to_char(bounds.max_number_length, 'FM999,999,999,999')
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.run_after = 'infinity' THEN
        RAISE EXCEPTION 'credsync.outbox: run_after must be a finite time, not infinity'
            USING ERRCODE = 'check_violation';
    END IF;

    FOREACH key IN ARRAY spec.ordering_keys LOOP
        parts := parts || (NEW.payload ->> key);
    END LOOP;
    NEW.ordering_key := spec.ordering_scope || ':' || array_to_string(parts, '|');
    IF octet_length(NEW.ordering_key) > bounds.max_ordering_key_bytes THEN
        RAISE EXCEPTION 'credsync.outbox: the ordering key of task % is % bytes long; at most %',
            NEW.task, to_char(octet_length(NEW.ordering_key), 'FM999,999,999,999'),
            to_char(bounds.max_ordering_key_bytes, 'FM999,999,999,999')
            USING ERRCODE = 'check_violation',
                  HINT = 'ordering keys: ' || array_to_string(spec.ordering_keys, ', ');
    END IF;
    NEW.status := 'pending';
    NEW.attempts := 0;
    NEW.created_at := now();
    NEW.run_after := greatest(coalesce(NEW.run_after, now()), now());
    NEW.enqueued_at := NULL;
    NEW.started_at := NULL;
    NEW.finished_at := NULL;
    NEW.lease_until := NULL;
    NEW.last_error := NULL;
    NEW.result := NULL;
    RETURN NEW;
END
$$;

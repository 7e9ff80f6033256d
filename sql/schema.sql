-- The current schema of everything in schema credsync, as applying every migration of
-- sql/migrations/ in order leaves it (PostgreSQL 15).
--
-- GENERATED, do not edit: after adding a migration, run `scripts/schema` (it creates a throwaway
-- database, runs `credsync migrate`, dumps schema credsync with pg_dump and drops the database).
-- tests/integration/test_schema.py fails while this file and the migrations disagree.
--
-- This file is for reading. The migrations remain the source of truth: `credsync migrate` creates
-- and upgrades databases from them, and nothing applies this file (a database made from it would not
-- record which migrations it holds). Owners are left out; the grants go to the roles of
-- 0003_roles.sql. The reference host tables (sql/host/) live in the host's schema, not here.

-- Name: credsync; Type: SCHEMA; Schema: -
CREATE SCHEMA credsync;

-- Name: outbox_before_insert(); Type: FUNCTION; Schema: credsync
CREATE FUNCTION credsync.outbox_before_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'credsync'
    AS $_$
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
$_$;

-- Name: outbox_estimate(); Type: FUNCTION; Schema: credsync
CREATE FUNCTION credsync.outbox_estimate(OUT task text, OUT status text, OUT rows bigint) RETURNS SETOF record
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'credsync'
    AS $$
    WITH rel AS (
        SELECT CASE WHEN c.reltuples < 0 OR c.relpages = 0 THEN 0::float8
                    ELSE c.reltuples / c.relpages
                         * (pg_relation_size(c.oid) / current_setting('block_size')::int) END AS n
        FROM pg_class c WHERE c.oid = 'credsync.outbox'::regclass
    )
    SELECT i.values[1], i.values[2], round(i.frequency * rel.n)::bigint
    FROM pg_statistic_ext s
    JOIN pg_statistic_ext_data d ON d.stxoid = s.oid
    CROSS JOIN rel
    CROSS JOIN LATERAL pg_mcv_list_items(d.stxdmcv) i
    WHERE s.stxname = 'outbox_task_status' AND s.stxnamespace = 'credsync'::regnamespace
      AND NOT d.stxdinherit
$$;

-- Name: FUNCTION outbox_estimate(OUT task text, OUT status text, OUT rows bigint); Type: COMMENT; Schema: credsync
COMMENT ON FUNCTION credsync.outbox_estimate(OUT task text, OUT status text, OUT rows bigint) IS 'Estimated rows per task and status of credsync.outbox, from statistics (no scan): the web console''s overview.';

-- Name: payload_bounds(); Type: FUNCTION; Schema: credsync
CREATE FUNCTION credsync.payload_bounds(OUT key_max_length jsonb, OUT max_bytes integer, OUT max_depth integer, OUT max_number_length integer, OUT max_ordering_key_bytes integer) RETURNS record
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT '{"username": 150, "course_key": 255, "course_run_key": 255, "certificate_available_date": 64}'::jsonb,
           8192, 8, 400, 2048
$$;

-- Name: FUNCTION payload_bounds(OUT key_max_length jsonb, OUT max_bytes integer, OUT max_depth integer, OUT max_number_length integer, OUT max_ordering_key_bytes integer); Type: COMMENT; Schema: credsync
COMMENT ON FUNCTION credsync.payload_bounds(OUT key_max_length jsonb, OUT max_bytes integer, OUT max_depth integer, OUT max_number_length integer, OUT max_ordering_key_bytes integer) IS 'What an outbox row''s payload may carry (migration 0010): the maximum length in characters of each declared key, the payload''s size in bytes of text, its nesting depth, the length of a number, and the ordering key''s size in bytes. The INSERT trigger refuses a row beyond any of them.';

-- Name: backfill; Type: TABLE; Schema: credsync
CREATE TABLE credsync.backfill (
    name text NOT NULL,
    kind text NOT NULL,
    since timestamp with time zone,
    last_key bigint DEFAULT 0 NOT NULL,
    rows bigint DEFAULT 0 NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    last_course_key text DEFAULT ''::text NOT NULL,
    CONSTRAINT backfill_kind_check CHECK ((kind = ANY (ARRAY['programs'::text, 'course_certificates'::text, 'course_dates'::text]))),
    CONSTRAINT backfill_rows_check CHECK ((rows >= 0))
);

-- Name: TABLE backfill; Type: COMMENT; Schema: credsync
COMMENT ON TABLE credsync.backfill IS 'Backfill runs: how far each got (last_key, rows) and whether it finished; a rerun continues from here.';

-- Name: cooldown; Type: TABLE; Schema: credsync
CREATE TABLE credsync.cooldown (
    destination text NOT NULL,
    until timestamp with time zone NOT NULL,
    reason text NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    kind text DEFAULT 'retry_after'::text NOT NULL,
    since timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT cooldown_kind_check CHECK ((kind = ANY (ARRAY['retry_after'::text, 'learner_throttle'::text, 'refused'::text])))
);

-- Name: TABLE cooldown; Type: COMMENT; Schema: credsync
COMMENT ON TABLE credsync.cooldown IS 'Holds: a scope of Credentials calls nothing is sent to before until (Retry-After, a learner''s read throttle, or a refusal); rows that meet one wait without using an attempt.';

-- Name: COLUMN cooldown.destination; Type: COMMENT; Schema: credsync
COMMENT ON COLUMN credsync.cooldown.destination IS 'The scope held: scheme://host[:port], or with #learner:<username> or #refused:<METHOD> <path>.';

-- Name: cooldown_active; Type: VIEW; Schema: credsync
CREATE VIEW credsync.cooldown_active AS
 SELECT cooldown.destination,
    cooldown.until,
    (cooldown.until - now()) AS remaining,
    cooldown.reason,
    cooldown.updated_at,
    cooldown.kind,
    cooldown.since
   FROM credsync.cooldown
  WHERE (cooldown.until > now());

-- Name: VIEW cooldown_active; Type: COMMENT; Schema: credsync
COMMENT ON VIEW credsync.cooldown_active IS 'Holds in force now: Retry-After cooldowns, learners'' read throttles and refusals (kind).';

-- Name: course_certificate_type; Type: TABLE; Schema: credsync
CREATE TABLE credsync.course_certificate_type (
    destination text NOT NULL,
    course_run_key text NOT NULL,
    certificate_type text NOT NULL,
    source text NOT NULL,
    learned_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT course_certificate_type_source_check CHECK ((source = ANY (ARRAY['award_answer'::text, 'configuration_answer'::text, 'lookup'::text])))
);

-- Name: TABLE course_certificate_type; Type: COMMENT; Schema: credsync
COMMENT ON TABLE credsync.course_certificate_type IS 'The certificate type Credentials stores for each course run (one per run), as credsync last learned it, and where from.';

-- Name: outbox; Type: TABLE; Schema: credsync
CREATE TABLE credsync.outbox (
    id bigint NOT NULL,
    task text NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    ordering_key text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    run_after timestamp with time zone DEFAULT now() NOT NULL,
    enqueued_at timestamp with time zone,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    lease_until timestamp with time zone,
    last_error text,
    result jsonb,
    run integer DEFAULT 1 NOT NULL,
    waiting_on text,
    CONSTRAINT outbox_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT outbox_finished_has_time CHECK (((status = ANY (ARRAY['done'::text, 'failed'::text])) = (finished_at IS NOT NULL))),
    CONSTRAINT outbox_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'enqueued'::text, 'running'::text, 'retrying'::text, 'done'::text, 'failed'::text])))
);

-- Name: TABLE outbox; Type: COMMENT; Schema: credsync
COMMENT ON TABLE credsync.outbox IS 'Sync work for the Credentials service. Hosts INSERT (task, payload) in their own transaction; credsync moves each row pending -> enqueued -> running [-> retrying -> running ...] -> done | failed.';

-- Name: COLUMN outbox.status; Type: COMMENT; Schema: credsync
COMMENT ON COLUMN credsync.outbox.status IS 'pending: waiting to be claimed; enqueued: message sent to the broker; running: an attempt is in progress; retrying: the last attempt failed, the next is due at run_after; done/failed: final.';

-- Name: COLUMN outbox.result; Type: COMMENT; Schema: credsync
COMMENT ON COLUMN credsync.outbox.result IS 'Outcome: {"outcome": "sent", ...} or {"outcome": "skipped", "reason": ..., "message": ...}.';

-- Name: COLUMN outbox.run; Type: COMMENT; Schema: credsync
COMMENT ON COLUMN credsync.outbox.run IS 'How many times the row was run from its first attempt: 1, plus one per `credsync retry`.';

-- Name: COLUMN outbox.waiting_on; Type: COMMENT; Schema: credsync
COMMENT ON COLUMN credsync.outbox.waiting_on IS 'Why the row waits until run_after without using an attempt (the hold it met), NULL otherwise.';

-- Name: course_history; Type: VIEW; Schema: credsync
CREATE VIEW credsync.course_history AS
 SELECT COALESCE((outbox.payload ->> 'course_key'::text), (outbox.payload ->> 'course_run_key'::text)) AS course_key,
    outbox.id,
    outbox.task,
    outbox.status,
    outbox.attempts,
    (outbox.payload ->> 'username'::text) AS username,
    outbox.created_at,
    outbox.finished_at,
    (outbox.result ->> 'outcome'::text) AS outcome,
    COALESCE((outbox.result ->> 'reason'::text), (outbox.result ->> 'status'::text)) AS detail,
    outbox.last_error
   FROM credsync.outbox
  WHERE (outbox.payload ?| ARRAY['course_key'::text, 'course_run_key'::text]);

-- Name: VIEW course_history; Type: COMMENT; Schema: credsync
COMMENT ON VIEW credsync.course_history IS 'Every row about a course run: SELECT * FROM credsync.course_history WHERE course_key = ''course-v1:...''.';

-- Name: delivery; Type: TABLE; Schema: credsync
CREATE TABLE credsync.delivery (
    id bigint NOT NULL,
    outbox_id bigint NOT NULL,
    attempt integer NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    method text NOT NULL,
    url text NOT NULL,
    status integer,
    duration_ms integer NOT NULL,
    error text,
    run integer DEFAULT 1 NOT NULL
);

-- Name: TABLE delivery; Type: COMMENT; Schema: credsync
COMMENT ON TABLE credsync.delivery IS 'Every HTTP request made for an outbox row, as it happened: was it sent, and what was answered.';

-- Name: COLUMN delivery.run; Type: COMMENT; Schema: credsync
COMMENT ON COLUMN credsync.delivery.run IS 'The run of the outbox row the request was made in.';

-- Name: delivery_id_seq; Type: SEQUENCE; Schema: credsync
ALTER TABLE credsync.delivery ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME credsync.delivery_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

-- Name: learner_history; Type: VIEW; Schema: credsync
CREATE VIEW credsync.learner_history AS
 SELECT (outbox.payload ->> 'username'::text) AS username,
    outbox.id,
    outbox.task,
    outbox.status,
    outbox.attempts,
    COALESCE((outbox.payload ->> 'course_run_key'::text), (outbox.payload ->> 'course_key'::text)) AS course_key,
    outbox.created_at,
    outbox.started_at,
    outbox.finished_at,
    (outbox.result ->> 'outcome'::text) AS outcome,
    COALESCE((outbox.result ->> 'reason'::text), (outbox.result ->> 'status'::text)) AS detail,
    outbox.last_error,
    outbox.result
   FROM credsync.outbox
  WHERE (outbox.payload ? 'username'::text);

-- Name: VIEW learner_history; Type: COMMENT; Schema: credsync
COMMENT ON VIEW credsync.learner_history IS 'Every row of a learner: SELECT * FROM credsync.learner_history WHERE username = ''ada'' ORDER BY id DESC.';

-- Name: notify; Type: TABLE; Schema: credsync
CREATE TABLE credsync.notify (
    name text NOT NULL,
    auto boolean DEFAULT false NOT NULL,
    filters text NOT NULL,
    course_keys text[],
    user_ids bigint[],
    window_start timestamp with time zone,
    window_end timestamp with time zone,
    notify_programs boolean DEFAULT false NOT NULL,
    revoke_program_certs boolean DEFAULT false NOT NULL,
    phase text DEFAULT 'certificates'::text NOT NULL,
    last_key bigint DEFAULT 0 NOT NULL,
    rows bigint DEFAULT 0 NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    CONSTRAINT notify_phase_check CHECK ((phase = ANY (ARRAY['certificates'::text, 'grades'::text]))),
    CONSTRAINT notify_rows_check CHECK ((rows >= 0))
);

-- Name: TABLE notify; Type: COMMENT; Schema: credsync
COMMENT ON TABLE credsync.notify IS '`credsync notify` runs: the selection, how far each got (phase, last_key, rows) and whether it finished; a rerun continues from here.';

-- Name: outbox_failed; Type: VIEW; Schema: credsync
CREATE VIEW credsync.outbox_failed AS
 SELECT outbox.id,
    outbox.task,
    outbox.payload,
    outbox.attempts,
    outbox.last_error,
    outbox.result,
    outbox.created_at,
    outbox.started_at,
    outbox.finished_at
   FROM credsync.outbox
  WHERE (outbox.status = 'failed'::text);

-- Name: VIEW outbox_failed; Type: COMMENT; Schema: credsync
COMMENT ON VIEW credsync.outbox_failed IS 'Rows that ended failed, with their last error (newest: ORDER BY finished_at DESC); `credsync retry` puts them back.';

-- Name: outbox_head; Type: VIEW; Schema: credsync
CREATE VIEW credsync.outbox_head AS
 SELECT o.id,
    o.task,
    o.payload,
    o.ordering_key,
    o.status,
    o.attempts,
    o.created_at,
    o.run_after,
    o.enqueued_at,
    o.started_at,
    o.finished_at,
    o.lease_until,
    o.last_error,
    o.result
   FROM credsync.outbox o
  WHERE ((o.status = 'pending'::text) AND (NOT (EXISTS ( SELECT 1
           FROM credsync.outbox p
          WHERE ((p.ordering_key = o.ordering_key) AND (p.id < o.id) AND (p.status = ANY (ARRAY['pending'::text, 'enqueued'::text, 'running'::text, 'retrying'::text])))
         OFFSET 0))));

-- Name: VIEW outbox_head; Type: COMMENT; Schema: credsync
COMMENT ON VIEW credsync.outbox_head IS 'Pending rows that are the oldest unfinished row of their ordering key: what the scanner claims once due.';

-- Name: outbox_id_seq; Type: SEQUENCE; Schema: credsync
ALTER TABLE credsync.outbox ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME credsync.outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

-- Name: outbox_stuck; Type: VIEW; Schema: credsync
CREATE VIEW credsync.outbox_stuck AS
 SELECT outbox.id,
    outbox.task,
    outbox.payload,
    outbox.status,
    outbox.attempts,
    outbox.lease_until,
    (now() - outbox.lease_until) AS overdue,
    outbox.last_error
   FROM credsync.outbox
  WHERE ((outbox.status = ANY (ARRAY['enqueued'::text, 'running'::text, 'retrying'::text])) AND (outbox.lease_until < now()));

-- Name: VIEW outbox_stuck; Type: COMMENT; Schema: credsync
COMMENT ON VIEW credsync.outbox_stuck IS 'In-flight rows past their lease (message or worker lost); the scanner puts them back within seconds.';

-- Name: outbox_summary; Type: VIEW; Schema: credsync
CREATE VIEW credsync.outbox_summary AS
 SELECT outbox.task,
    outbox.status,
    count(*) AS rows,
    min(outbox.created_at) AS oldest_created_at,
    (now() - min(outbox.created_at)) AS oldest_age,
    max(outbox.attempts) AS max_attempts
   FROM credsync.outbox
  GROUP BY outbox.task, outbox.status;

-- Name: VIEW outbox_summary; Type: COMMENT; Schema: credsync
COMMENT ON VIEW credsync.outbox_summary IS 'Rows per task and status, with the age of the oldest (counts every row: pruning keeps it bounded).';

-- Name: outbox_waiting; Type: VIEW; Schema: credsync
CREATE VIEW credsync.outbox_waiting AS
 SELECT o.id,
    o.task,
    o.payload,
    o.status,
    o.attempts,
    o.run_after,
    (o.run_after - now()) AS due_in,
    o.last_error,
    (o.waiting_on IS NOT NULL) AS on_cooldown,
    o.waiting_on
   FROM credsync.outbox o
  WHERE ((o.status = ANY (ARRAY['pending'::text, 'retrying'::text])) AND (o.run_after > now()));

-- Name: VIEW outbox_waiting; Type: COMMENT; Schema: credsync
COMMENT ON VIEW credsync.outbox_waiting IS 'Rows waiting for a retry delay, a hold (on_cooldown, waiting_on says which) or a scheduled time, and when they are due.';

-- Name: schema_migration; Type: TABLE; Schema: credsync
CREATE TABLE credsync.schema_migration (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

-- Name: task; Type: TABLE; Schema: credsync
CREATE TABLE credsync.task (
    name text NOT NULL,
    required_keys text[] NOT NULL,
    ordering_scope text NOT NULL,
    ordering_keys text[] NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT task_ordering_keys_check CHECK ((cardinality(ordering_keys) > 0))
);

-- Name: TABLE task; Type: COMMENT; Schema: credsync
COMMENT ON TABLE credsync.task IS 'Tasks the credsync workers handle; rewritten by `credsync migrate` from the worker''s handler registry.';

-- Name: web_audit; Type: TABLE; Schema: credsync
CREATE TABLE credsync.web_audit (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    operator text NOT NULL,
    action text NOT NULL,
    filter jsonb DEFAULT '{}'::jsonb NOT NULL,
    previewed bigint DEFAULT 0 NOT NULL,
    rows bigint DEFAULT 0 NOT NULL,
    finished_at timestamp with time zone,
    client text,
    CONSTRAINT web_audit_action_check CHECK ((action = 'retry_failed'::text)),
    CONSTRAINT web_audit_previewed_check CHECK ((previewed >= 0)),
    CONSTRAINT web_audit_rows_check CHECK ((rows >= 0))
);

-- Name: TABLE web_audit; Type: COMMENT; Schema: credsync
COMMENT ON TABLE credsync.web_audit IS 'Write actions taken in the web console (`credsync web`): who, when, what and how many rows.';

-- Name: web_audit_id_seq; Type: SEQUENCE; Schema: credsync
ALTER TABLE credsync.web_audit ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME credsync.web_audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

-- Name: backfill backfill_pkey; Type: CONSTRAINT; Schema: credsync
ALTER TABLE ONLY credsync.backfill
    ADD CONSTRAINT backfill_pkey PRIMARY KEY (name);

-- Name: cooldown cooldown_pkey; Type: CONSTRAINT; Schema: credsync
ALTER TABLE ONLY credsync.cooldown
    ADD CONSTRAINT cooldown_pkey PRIMARY KEY (destination);

-- Name: course_certificate_type course_certificate_type_pkey; Type: CONSTRAINT; Schema: credsync
ALTER TABLE ONLY credsync.course_certificate_type
    ADD CONSTRAINT course_certificate_type_pkey PRIMARY KEY (destination, course_run_key);

-- Name: delivery delivery_pkey; Type: CONSTRAINT; Schema: credsync
ALTER TABLE ONLY credsync.delivery
    ADD CONSTRAINT delivery_pkey PRIMARY KEY (id);

-- Name: notify notify_pkey; Type: CONSTRAINT; Schema: credsync
ALTER TABLE ONLY credsync.notify
    ADD CONSTRAINT notify_pkey PRIMARY KEY (name);

-- Name: outbox outbox_pkey; Type: CONSTRAINT; Schema: credsync
ALTER TABLE ONLY credsync.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);

-- Name: schema_migration schema_migration_pkey; Type: CONSTRAINT; Schema: credsync
ALTER TABLE ONLY credsync.schema_migration
    ADD CONSTRAINT schema_migration_pkey PRIMARY KEY (version);

-- Name: task task_pkey; Type: CONSTRAINT; Schema: credsync
ALTER TABLE ONLY credsync.task
    ADD CONSTRAINT task_pkey PRIMARY KEY (name);

-- Name: web_audit web_audit_pkey; Type: CONSTRAINT; Schema: credsync
ALTER TABLE ONLY credsync.web_audit
    ADD CONSTRAINT web_audit_pkey PRIMARY KEY (id);

-- Name: delivery_outbox_idx; Type: INDEX; Schema: credsync
CREATE INDEX delivery_outbox_idx ON credsync.delivery USING btree (outbox_id, id);

-- Name: notify_auto_idx; Type: INDEX; Schema: credsync
CREATE INDEX notify_auto_idx ON credsync.notify USING btree (filters, window_end) WHERE auto;

-- Name: outbox_course_idx; Type: INDEX; Schema: credsync
CREATE INDEX outbox_course_idx ON credsync.outbox USING btree (COALESCE((payload ->> 'course_key'::text), (payload ->> 'course_run_key'::text)), id);

-- Name: outbox_failed_idx; Type: INDEX; Schema: credsync
CREATE INDEX outbox_failed_idx ON credsync.outbox USING btree (finished_at DESC, id DESC) WHERE (status = 'failed'::text);

-- Name: outbox_finished_idx; Type: INDEX; Schema: credsync
CREATE INDEX outbox_finished_idx ON credsync.outbox USING btree (finished_at) WHERE (status = ANY (ARRAY['done'::text, 'failed'::text]));

-- Name: outbox_in_flight_lease_idx; Type: INDEX; Schema: credsync
CREATE INDEX outbox_in_flight_lease_idx ON credsync.outbox USING btree (lease_until) WHERE (status = ANY (ARRAY['enqueued'::text, 'running'::text, 'retrying'::text]));

-- Name: outbox_pending_idx; Type: INDEX; Schema: credsync
CREATE INDEX outbox_pending_idx ON credsync.outbox USING btree (id) WHERE (status = 'pending'::text);

-- Name: outbox_unfinished_key_idx; Type: INDEX; Schema: credsync
CREATE INDEX outbox_unfinished_key_idx ON credsync.outbox USING btree (ordering_key, id) WHERE (status = ANY (ARRAY['pending'::text, 'enqueued'::text, 'running'::text, 'retrying'::text]));

-- Name: outbox_username_idx; Type: INDEX; Schema: credsync
CREATE INDEX outbox_username_idx ON credsync.outbox USING btree (((payload ->> 'username'::text)), id);

-- Name: outbox_waiting_idx; Type: INDEX; Schema: credsync
CREATE INDEX outbox_waiting_idx ON credsync.outbox USING btree (run_after) WHERE (status = ANY (ARRAY['pending'::text, 'retrying'::text]));

-- Name: web_audit_at_idx; Type: INDEX; Schema: credsync
CREATE INDEX web_audit_at_idx ON credsync.web_audit USING btree (at DESC, id DESC);

-- Name: outbox_task_status; Type: STATISTICS; Schema: credsync
CREATE STATISTICS credsync.outbox_task_status (mcv) ON task, status FROM credsync.outbox;

-- Name: outbox outbox_before_insert; Type: TRIGGER; Schema: credsync
CREATE TRIGGER outbox_before_insert BEFORE INSERT ON credsync.outbox FOR EACH ROW EXECUTE FUNCTION credsync.outbox_before_insert();

-- Name: delivery delivery_outbox_id_fkey; Type: FK CONSTRAINT; Schema: credsync
ALTER TABLE ONLY credsync.delivery
    ADD CONSTRAINT delivery_outbox_id_fkey FOREIGN KEY (outbox_id) REFERENCES credsync.outbox(id) ON DELETE CASCADE;

-- Name: SCHEMA credsync; Type: ACL; Schema: -
GRANT USAGE ON SCHEMA credsync TO credsync_writer;
GRANT USAGE ON SCHEMA credsync TO credsync_worker;
GRANT USAGE ON SCHEMA credsync TO credsync_inspector;

-- Name: FUNCTION outbox_estimate(OUT task text, OUT status text, OUT rows bigint); Type: ACL; Schema: credsync
REVOKE ALL ON FUNCTION credsync.outbox_estimate(OUT task text, OUT status text, OUT rows bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION credsync.outbox_estimate(OUT task text, OUT status text, OUT rows bigint) TO credsync_worker;
GRANT ALL ON FUNCTION credsync.outbox_estimate(OUT task text, OUT status text, OUT rows bigint) TO credsync_inspector;

-- Name: TABLE backfill; Type: ACL; Schema: credsync
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE credsync.backfill TO credsync_worker;
GRANT SELECT ON TABLE credsync.backfill TO credsync_inspector;

-- Name: TABLE cooldown; Type: ACL; Schema: credsync
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE credsync.cooldown TO credsync_worker;
GRANT SELECT ON TABLE credsync.cooldown TO credsync_inspector;

-- Name: TABLE cooldown_active; Type: ACL; Schema: credsync
GRANT SELECT ON TABLE credsync.cooldown_active TO credsync_worker;
GRANT SELECT ON TABLE credsync.cooldown_active TO credsync_inspector;

-- Name: TABLE course_certificate_type; Type: ACL; Schema: credsync
GRANT SELECT,INSERT,UPDATE ON TABLE credsync.course_certificate_type TO credsync_worker;
GRANT SELECT ON TABLE credsync.course_certificate_type TO credsync_inspector;

-- Name: TABLE outbox; Type: ACL; Schema: credsync
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE credsync.outbox TO credsync_worker;
GRANT SELECT ON TABLE credsync.outbox TO credsync_inspector;

-- Name: COLUMN outbox.task; Type: ACL; Schema: credsync
GRANT INSERT(task) ON TABLE credsync.outbox TO credsync_writer;

-- Name: COLUMN outbox.payload; Type: ACL; Schema: credsync
GRANT INSERT(payload) ON TABLE credsync.outbox TO credsync_writer;

-- Name: COLUMN outbox.run_after; Type: ACL; Schema: credsync
GRANT INSERT(run_after) ON TABLE credsync.outbox TO credsync_writer;

-- Name: TABLE course_history; Type: ACL; Schema: credsync
GRANT SELECT ON TABLE credsync.course_history TO credsync_inspector;
GRANT SELECT ON TABLE credsync.course_history TO credsync_worker;

-- Name: TABLE delivery; Type: ACL; Schema: credsync
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE credsync.delivery TO credsync_worker;
GRANT SELECT ON TABLE credsync.delivery TO credsync_inspector;

-- Name: TABLE learner_history; Type: ACL; Schema: credsync
GRANT SELECT ON TABLE credsync.learner_history TO credsync_inspector;
GRANT SELECT ON TABLE credsync.learner_history TO credsync_worker;

-- Name: TABLE notify; Type: ACL; Schema: credsync
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE credsync.notify TO credsync_worker;
GRANT SELECT ON TABLE credsync.notify TO credsync_inspector;

-- Name: TABLE outbox_failed; Type: ACL; Schema: credsync
GRANT SELECT ON TABLE credsync.outbox_failed TO credsync_worker;
GRANT SELECT ON TABLE credsync.outbox_failed TO credsync_inspector;

-- Name: TABLE outbox_head; Type: ACL; Schema: credsync
GRANT SELECT,UPDATE ON TABLE credsync.outbox_head TO credsync_worker;
GRANT SELECT ON TABLE credsync.outbox_head TO credsync_inspector;

-- Name: TABLE outbox_stuck; Type: ACL; Schema: credsync
GRANT SELECT ON TABLE credsync.outbox_stuck TO credsync_worker;
GRANT SELECT ON TABLE credsync.outbox_stuck TO credsync_inspector;

-- Name: TABLE outbox_summary; Type: ACL; Schema: credsync
GRANT SELECT ON TABLE credsync.outbox_summary TO credsync_worker;
GRANT SELECT ON TABLE credsync.outbox_summary TO credsync_inspector;

-- Name: TABLE outbox_waiting; Type: ACL; Schema: credsync
GRANT SELECT ON TABLE credsync.outbox_waiting TO credsync_worker;
GRANT SELECT ON TABLE credsync.outbox_waiting TO credsync_inspector;

-- Name: TABLE schema_migration; Type: ACL; Schema: credsync
GRANT SELECT ON TABLE credsync.schema_migration TO credsync_worker;
GRANT SELECT ON TABLE credsync.schema_migration TO credsync_inspector;

-- Name: TABLE task; Type: ACL; Schema: credsync
GRANT SELECT ON TABLE credsync.task TO credsync_worker;
GRANT SELECT ON TABLE credsync.task TO credsync_inspector;

-- Name: TABLE web_audit; Type: ACL; Schema: credsync
GRANT SELECT,INSERT,UPDATE ON TABLE credsync.web_audit TO credsync_worker;
GRANT SELECT ON TABLE credsync.web_audit TO credsync_inspector;

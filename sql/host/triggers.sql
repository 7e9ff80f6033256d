-- Opt-in host triggers: the reference host tables enqueue the upstream signals' tasks themselves
-- (SPEC §3.8), as one plain INSERT into credsync.outbox inside the host's own transaction.
-- `credsync migrate --reference-host --with-triggers` runs this after reference.sql, with
-- search_path set to CREDSYNC_HOST_SCHEMA; it is idempotent (functions replaced, triggers dropped
-- and created again, so there is always exactly one of each).
--
-- Why opt-in: a real Open edX host already enqueues from its Django signal handlers; triggers as
-- well would enqueue every task twice. They are for hosts (and the demo and tests) whose only
-- producer is the database itself. A host that exposes views instead of these tables cannot use
-- them (a view has no AFTER ROW triggers).
--
-- No NOTIFY, nor any other side effect: a NOTIFY in the host's transaction takes a database-wide
-- lock at commit (DESIGN.md "Periodic work"). The scanner finds the rows by polling.
--
-- Upstream conditions deliberately not reproduced:
--   * Upstream enqueued only while the Credentials config was enabled. Here rows are always
--     enqueued and simply wait while it is disabled (SPEC §8.1): a change made while it is
--     disabled is synced once it is enabled again instead of being lost.
--   * Upstream skipped award_course_certificate when ENABLE_LEARNER_RECORDS is false for the
--     course's org (a Django setting, overridable per org site configuration). The triggers do not
--     read it; send_grade_to_credentials reads it (with every other gate of SPEC-grades §3.1) when
--     its row runs.
--   * Upstream sent a grade only when its gate passed at the time of the signal (SPEC-grades §3.1).
--     Here every grade saved and every certificate saved enqueues send_grade_to_credentials; the
--     worker evaluates the gate on the host's state when the row runs, and ends the row done with
--     the reason when there is nothing to send.
--
-- The functions pin their search_path to the host schema (SET search_path FROM CURRENT), so they
-- find the host tables whatever the writing session's search_path is; they run with the writer's
-- rights, which need only INSERT (task, payload) on credsync.outbox (the credsync_writer role) and
-- SELECT on the host tables.

-- Fail with a clear message, rather than a cryptic one from CREATE TRIGGER, when a host exposes
-- one of these names as a view.
DO $$
DECLARE
    name text;
    kind "char";
BEGIN
    FOREACH name IN ARRAY ARRAY['certificates_generatedcertificate', 'certificates_certificatedateoverride',
                                'course_overviews_courseoverview', 'grades_persistentcoursegrade'] LOOP
        SELECT c.relkind INTO kind
        FROM pg_class c
        WHERE c.oid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident(name));
        IF kind IS NULL OR kind NOT IN ('r', 'p') THEN
            RAISE EXCEPTION 'credsync host triggers: %.% must be a table (it is %)', current_schema(), name,
                CASE WHEN kind IS NULL THEN 'missing' WHEN kind = 'v' THEN 'a view' ELSE 'not a table' END
                USING HINT = 'the triggers are for the reference host tables; a host with its own tables '
                             'enqueues from its own code instead';
        END IF;
    END LOOP;
END
$$;

-- award_course_certificate, then the grade check, for one certificate (COURSE_CERT_CHANGED, which
-- a date override's save and delete send too, and which reaches both receivers: SPEC-grades §2.1);
-- nothing when the certificate is gone (an override deleted by the cascade of its certificate's
-- deletion: nothing to re-date).
CREATE OR REPLACE FUNCTION credsync_enqueue_award_course_certificate(certificate_id bigint) RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    learner text;
    run_key text;
BEGIN
    SELECT u.username, c.course_id INTO learner, run_key
    FROM certificates_generatedcertificate c
    JOIN auth_user u ON u.id = c.user_id
    WHERE c.id = certificate_id;
    IF FOUND THEN
        INSERT INTO credsync.outbox (task, payload)
        VALUES ('award_course_certificate', jsonb_build_object('username', learner, 'course_run_key', run_key));
        INSERT INTO credsync.outbox (task, payload)
        VALUES ('send_grade_to_credentials', jsonb_build_object('username', learner, 'course_run_key', run_key));
    END IF;
END
$$;

-- A certificate saved (GeneratedCertificate.save() and the revocation paths, SPEC §3.7/§3.8).
CREATE OR REPLACE FUNCTION credsync_generatedcertificate_enqueue() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    learner text;
BEGIN
    SELECT username INTO learner FROM auth_user WHERE id = NEW.user_id;
    -- COURSE_CERT_CHANGED fires on every save, even one that changes only modified_date: kept, so
    -- every INSERT and every UPDATE enqueues award_course_certificate (the task reads current
    -- state, and identical pending rows may be coalesced). It comes first: the program task below
    -- shares the learner's ordering key, so it runs after it, as upstream's signals were sent.
    INSERT INTO credsync.outbox (task, payload)
    VALUES ('award_course_certificate', jsonb_build_object('username', learner, 'course_run_key', NEW.course_id));
    -- COURSE_CERT_CHANGED also reaches the grade check (SPEC-grades §2.1): the certificate's mode
    -- and status decide whether the learner's grade in the run is sent.
    INSERT INTO credsync.outbox (task, payload)
    VALUES ('send_grade_to_credentials', jsonb_build_object('username', learner, 'course_run_key', NEW.course_id));
    IF NEW.status IN ('downloadable', 'generating') THEN
        -- COURSE_CERT_AWARDED: every save with a passing status, changed or not (as upstream).
        INSERT INTO credsync.outbox (task, payload)
        VALUES ('award_program_certificates', jsonb_build_object('username', learner));
    ELSIF NEW.status IN ('unavailable', 'notpassing', 'unverified')
          AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status) THEN
        -- COURSE_CERT_REVOKED: invalidate() sets unavailable, mark_notpassing() notpassing,
        -- mark_unverified() unverified. Upstream sent it on each call of those methods; a row
        -- only shows the status, so it is sent when the status becomes one of them.
        INSERT INTO credsync.outbox (task, payload)
        VALUES ('revoke_program_certificates', jsonb_build_object('username', learner, 'course_key', NEW.course_id));
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS credsync_enqueue ON certificates_generatedcertificate;
CREATE TRIGGER credsync_enqueue
    AFTER INSERT OR UPDATE ON certificates_generatedcertificate
    FOR EACH ROW EXECUTE FUNCTION credsync_generatedcertificate_enqueue();

-- A date override saved or deleted: COURSE_CERT_CHANGED for its certificate.
CREATE OR REPLACE FUNCTION credsync_certificatedateoverride_enqueue() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        PERFORM credsync_enqueue_award_course_certificate(NEW.generated_certificate_id);
    END IF;
    -- On DELETE, and when an UPDATE moves the override to another certificate, the certificate it
    -- left has lost its date override too.
    IF TG_OP = 'DELETE' OR OLD.generated_certificate_id IS DISTINCT FROM NEW.generated_certificate_id THEN
        PERFORM credsync_enqueue_award_course_certificate(OLD.generated_certificate_id);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS credsync_enqueue ON certificates_certificatedateoverride;
CREATE TRIGGER credsync_enqueue
    AFTER INSERT OR UPDATE OR DELETE ON certificates_certificatedateoverride
    FOR EACH ROW EXECUTE FUNCTION credsync_certificatedateoverride_enqueue();

-- A course run's pacing, certificate display behaviour or available date changed
-- (COURSE_PACING_CHANGED, COURSE_CERT_DATE_CHANGE). Not on INSERT: upstream's signals fire on
-- Studio changes to an existing run, and a new run has no certificates to re-date yet.
CREATE OR REPLACE FUNCTION credsync_courseoverview_enqueue() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    INSERT INTO credsync.outbox (task, payload)
    VALUES ('update_certificate_available_date_on_course_update', jsonb_build_object('course_key', NEW.id));
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS credsync_enqueue ON course_overviews_courseoverview;
-- The WHEN clause keeps updates of other columns (title, org, ...) from even calling the function.
CREATE TRIGGER credsync_enqueue
    AFTER UPDATE ON course_overviews_courseoverview
    FOR EACH ROW
    WHEN (OLD.self_paced IS DISTINCT FROM NEW.self_paced
          OR OLD.certificates_display_behavior IS DISTINCT FROM NEW.certificates_display_behavior
          OR OLD.certificate_available_date IS DISTINCT FROM NEW.certificate_available_date)
    EXECUTE FUNCTION credsync_courseoverview_enqueue();

-- A course grade saved (COURSE_GRADE_CHANGED, sent after every recomputation that persists the
-- grade: SPEC-grades §2.1). An UPDATE that changes nothing at all enqueues nothing; any change,
-- even of modified alone, does (the grade's lms_last_updated_at). Not on DELETE: upstream sends
-- no signal when grades are cleared.
CREATE OR REPLACE FUNCTION credsync_persistentcoursegrade_enqueue() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    learner text;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN
        RETURN NULL;
    END IF;
    SELECT username INTO learner FROM auth_user WHERE id = NEW.user_id;
    IF FOUND THEN
        INSERT INTO credsync.outbox (task, payload)
        VALUES ('send_grade_to_credentials', jsonb_build_object('username', learner, 'course_run_key', NEW.course_id));
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS credsync_enqueue ON grades_persistentcoursegrade;
CREATE TRIGGER credsync_enqueue
    AFTER INSERT OR UPDATE ON grades_persistentcoursegrade
    FOR EACH ROW EXECUTE FUNCTION credsync_persistentcoursegrade_enqueue();

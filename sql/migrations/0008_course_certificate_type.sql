-- 0008: what credsync has learned of the certificate type Credentials stores for each course run.
-- Why: Credentials keeps ONE CourseCertificate per catalog course run (SPEC §5.5, §5.7). Configuring
-- a run's available date with another certificate_type than the stored one answers HTTP 500 every
-- time, and a course-run award in another mode is attached to the stored certificate. The platform's
-- course mode is therefore not always the type to configure, and the stored type is hard to read:
-- GET course_certificates/<key>/ answers 404 for any key containing a dot and there is no list
-- route. What is learned (from every course-run award answer's credential.mode, every configuration
-- answer, or a lookup) is kept here, per Credentials service (scheme://host[:port], which decides the
-- site) and run, so the configuration task posts the type the run has.

CREATE TABLE credsync.course_certificate_type (
    destination       text NOT NULL,      -- scheme://host[:port] of the Credentials service
    course_run_key    text NOT NULL,
    certificate_type  text NOT NULL,      -- the type Credentials stores for the run
    source            text NOT NULL
                      CHECK (source IN ('award_answer', 'configuration_answer', 'lookup')),
    learned_at        timestamptz NOT NULL DEFAULT now(),  -- when this type was first seen
    PRIMARY KEY (destination, course_run_key)
);
COMMENT ON TABLE credsync.course_certificate_type IS
    'The certificate type Credentials stores for each course run (one per run), as credsync last learned it, and where from.';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_worker') THEN
        GRANT SELECT, INSERT, UPDATE ON credsync.course_certificate_type TO credsync_worker;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_inspector') THEN
        GRANT SELECT ON credsync.course_certificate_type TO credsync_inspector;
    END IF;
END
$$;

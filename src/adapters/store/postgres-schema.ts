/**
 * The PostgreSQL store's schema as versioned migrations. Each migration runs once, in order, inside the
 * migration transaction (see migrate() in postgres.ts), and its version is recorded in
 * guard_schema_version. Never edit a released migration: add a new one.
 *
 * Records are stored as canonical JSON in TEXT columns (not jsonb) so that the bytes a requester or
 * approver signed come back exactly; the other columns are extracted copies for indexing and for the
 * database's own clock (expiry, consumption time).
 *
 * Every table is append-only: a trigger refuses UPDATE, DELETE and TRUNCATE, even for a role that holds
 * the grant (docs/postgres.md shows the least-privilege roles on top of this). Only the owner can drop
 * the trigger, and the audit chain's verification (plus an external anchor) catches what the owner does.
 */

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

/** The channel that approvals and consumptions are announced on; the payload is the request id. */
export const NOTIFY_CHANNEL = "access_guard";

/**
 * Advisory lock keys (two-int form: a class that reads "agrd", then the purpose). Advisory locks need no
 * table privileges, so the least-privilege role can take them.
 */
export const LOCK_CLASS = 0x61677264;
export const LOCK_MIGRATE = 1;
export const LOCK_AUDIT = 2;

export const VERSION_TABLE_SQL = `
CREATE TABLE IF NOT EXISTS guard_schema_version (
  version     integer PRIMARY KEY,
  description text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT clock_timestamp()
)`;

const V1 = `
CREATE TABLE guard_requests (
  id         text PRIMARY KEY CHECK (id ~ '^r-[a-z2-7]{20}$'),
  body       text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  stored_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX guard_requests_newest ON guard_requests (created_at DESC, id DESC);

CREATE TABLE guard_approvals (
  ord        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  request_id text NOT NULL CHECK (request_id ~ '^r-[a-z2-7]{20}$'),
  digest     text NOT NULL,
  body       text NOT NULL,
  stored_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (request_id, digest)
);

CREATE TABLE guard_consumptions (
  request_id  text PRIMARY KEY CHECK (request_id ~ '^r-[a-z2-7]{20}$'),
  body        text NOT NULL,
  consumed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE guard_audit (
  seq       bigint PRIMARY KEY CHECK (seq >= 1),
  hash      text NOT NULL,
  body      text NOT NULL,
  time      timestamptz NOT NULL,
  stored_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION guard_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'access-guard: % on % refused: guard records are append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE FUNCTION guard_announce() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('${NOTIFY_CHANNEL}', NEW.request_id);
  RETURN NULL;
END
$fn$;

CREATE TRIGGER guard_requests_append_only BEFORE UPDATE OR DELETE ON guard_requests
  FOR EACH ROW EXECUTE FUNCTION guard_refuse_change();
CREATE TRIGGER guard_requests_no_truncate BEFORE TRUNCATE ON guard_requests
  FOR EACH STATEMENT EXECUTE FUNCTION guard_refuse_change();
CREATE TRIGGER guard_approvals_append_only BEFORE UPDATE OR DELETE ON guard_approvals
  FOR EACH ROW EXECUTE FUNCTION guard_refuse_change();
CREATE TRIGGER guard_approvals_no_truncate BEFORE TRUNCATE ON guard_approvals
  FOR EACH STATEMENT EXECUTE FUNCTION guard_refuse_change();
CREATE TRIGGER guard_consumptions_append_only BEFORE UPDATE OR DELETE ON guard_consumptions
  FOR EACH ROW EXECUTE FUNCTION guard_refuse_change();
CREATE TRIGGER guard_consumptions_no_truncate BEFORE TRUNCATE ON guard_consumptions
  FOR EACH STATEMENT EXECUTE FUNCTION guard_refuse_change();
CREATE TRIGGER guard_audit_append_only BEFORE UPDATE OR DELETE ON guard_audit
  FOR EACH ROW EXECUTE FUNCTION guard_refuse_change();
CREATE TRIGGER guard_audit_no_truncate BEFORE TRUNCATE ON guard_audit
  FOR EACH STATEMENT EXECUTE FUNCTION guard_refuse_change();

-- A waiting 'guard run' wakes on these (LISTEN ${NOTIFY_CHANNEL}); a trigger, so that every writer announces.
CREATE TRIGGER guard_approvals_announce AFTER INSERT ON guard_approvals
  FOR EACH ROW EXECUTE FUNCTION guard_announce();
CREATE TRIGGER guard_consumptions_announce AFTER INSERT ON guard_consumptions
  FOR EACH ROW EXECUTE FUNCTION guard_announce();
`;

/** In order; versions are 1, 2, 3, … without gaps. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: "requests, approvals, consumptions, audit; append-only triggers; notifications", sql: V1 },
];

/** The schema version this build of guard expects. */
export const SCHEMA_VERSION = MIGRATIONS.length;

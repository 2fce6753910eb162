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
// (Schema version 1 also serialised audit appends with (LOCK_CLASS, 2), which any role can take and hold;
// version 2 locks a row of guard_audit_lock instead, which only the owner's append function can take.)

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

/** The largest seq an event may have: JavaScript's largest safe integer (guard reads seq as a number). */
export const MAX_AUDIT_SEQ = "9007199254740991";

/**
 * The largest actor and data text (together, in UTF-8) an event may have: far above any argv an OS
 * passes (Linux: 2 MiB), and small enough that checking it under the append lock takes well under a
 * second.
 */
export const MAX_AUDIT_EVENT_BYTES = 4 * 1024 * 1024;

/**
 * Audit event types: lowercase words joined by dots. Nothing in a type needs escaping in JSON, so the
 * append function can write it into the canonical text as it is.
 */
const AUDIT_TYPE = "[a-z][a-z0-9_-]*([.][a-z][a-z0-9_-]*)*";
export const AUDIT_TYPE_PATTERN = `^${AUDIT_TYPE}$`;

/**
 * The request.consumed rows, and the request each names, as an index of version 2 keeps them (a query
 * must spell both exactly so for the planner to use it). In a canonical body the first
 * `"requestId":"r-…"` is data.requestId: actor's strings cannot hold an unescaped quote.
 */
export const CONSUMED_PREDICATE = `body LIKE '%,"type":"request.consumed"}'`;
export const CONSUMED_REQUEST_ID = `substring(body FROM '"requestId":"(r-[a-z2-7]{20})"')`;

/**
 * Version 2: nobody but the owner writes raw audit rows (issue 12, item 6). A guard_user used to be able
 * to INSERT any row, and one row with a huge seq or a junk hash made every append of every user fail.
 * Now:
 * - guard_append_audit(type, actor, data) is the only way in: SECURITY DEFINER (it runs as the owner),
 *   search_path pinned to guard's schema, EXECUTE only for the roles that could INSERT before. It takes
 *   the append lock, computes seq, prev, time and the hash itself and returns the stored event, which
 *   the client checks against its own computation. actor and data arrive as the client's canonical JSON
 *   text (checked to be JSON objects) and are spliced in as they are: the hash is SHA-256 over exactly
 *   the text the JavaScript verifier hashes. (A caller passing text that is not canonical gets an
 *   event that `guard audit verify` reports as altered, at its seq; it blocks nobody.)
 * - The append lock is a row of guard_audit_lock, on which no other role holds any privilege: unlike
 *   the advisory lock version 1 used, a user cannot simply take it and hold it. (A user who calls the
 *   function inside a transaction and leaves that open still holds it until the transaction ends, like
 *   any append in progress: docs/postgres.md says how an administrator finds and ends such a session.)
 * - CHECK constraints make every new row, the owner's included, one that readers can always parse: seq
 *   a safe integer, hash 64 lowercase hex, body a JSON object whose actor and data are objects and whose
 *   last five members are hash (= the column), prev, seq (= the column), time and type, in that order,
 *   with the hash matching the text. They are NOT VALID: rows stored before this version are not
 *   rejected by the upgrade (docs/postgres.md shows the owner how to check them), but stop nothing:
 *   the function chains after the last row whatever it holds, and `guard audit verify` reports it.
 * - An index of the request.consumed events by request, so that a run checks that its request was
 *   never consumed (S3) without reading the whole log, and without tripping over a damaged row.
 * - Every role that held INSERT on guard_audit loses it and is granted EXECUTE on the function
 *   instead, so an upgraded installation keeps working with its existing grants.
 */
const V2 = `
CREATE TABLE guard_audit_lock (
  one boolean PRIMARY KEY DEFAULT true CHECK (one)
);
INSERT INTO guard_audit_lock VALUES (true);
REVOKE ALL ON guard_audit_lock FROM PUBLIC;
CREATE TRIGGER guard_audit_lock_append_only BEFORE UPDATE OR DELETE ON guard_audit_lock
  FOR EACH ROW EXECUTE FUNCTION guard_refuse_change();

CREATE FUNCTION guard_json_object(doc text) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $fn$
BEGIN
  -- Parsed with every escaped backslash and every \\uXXXX escape replaced by plain characters: valid
  -- exactly when the text is, with the same structure. PostgreSQL refuses to decode \\u0000 and lone
  -- surrogates, which JavaScript writes and reads (JSON.stringify escapes a lone surrogate as \\udXXX),
  -- so guard's checks never decode a string. (Inline: these functions are self-contained, with
  -- search_path pg_catalog, so that a CHECK never depends on the session's search_path.)
  RETURN json_typeof(regexp_replace(replace(doc, chr(92) || chr(92), '__'), chr(92) || chr(92) || 'u[0-9a-fA-F]{4}', '_', 'g')::json) = 'object';
EXCEPTION WHEN others THEN
  RETURN false; -- not JSON, or nested deeper than the server's stack allows
END
$fn$;

CREATE FUNCTION guard_audit_row_ok(row_seq bigint, row_hash text, row_body text) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $fn$
DECLARE
  doc json;
BEGIN
  IF row_seq IS NULL OR row_hash IS NULL OR row_body IS NULL OR row_seq < 1 OR row_seq > ${MAX_AUDIT_SEQ} THEN
    RETURN false;
  END IF;
  IF row_hash !~ '^[0-9a-f]{64}$' THEN
    RETURN false;
  END IF;
  IF left(row_body, 10) <> '{"actor":{'
     OR row_body !~ ('[}],"data":[{].*[}],"hash":"' || row_hash || '","prev":"[0-9a-f]{64}","seq":' || row_seq
                     || ',"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z","type":"${AUDIT_TYPE}"[}]$') THEN
    RETURN false;
  END IF;
  BEGIN
    doc := regexp_replace(replace(row_body, chr(92) || chr(92), '__'), chr(92) || chr(92) || 'u[0-9a-fA-F]{4}', '_', 'g')::json; -- (as in guard_json_object)
    -- Exactly the seven members, once each (an escaped or repeated key would read differently in
    -- JSON.parse), actor and data objects: every guard can parse every row.
    RETURN (SELECT count(*) = 7 AND count(DISTINCT k) = 7 AND bool_and(k IN ('actor', 'data', 'hash', 'prev', 'seq', 'time', 'type'))
              FROM json_object_keys(doc) AS k)
      AND json_typeof(doc -> 'actor') = 'object' AND json_typeof(doc -> 'data') = 'object'
      AND encode(sha256(convert_to(replace(row_body, ',"hash":"' || row_hash || '",', ','), 'UTF8')), 'hex') = row_hash;
  EXCEPTION WHEN others THEN
    RETURN false;
  END;
END
$fn$;

ALTER TABLE guard_audit ADD CONSTRAINT guard_audit_row_is_an_event
  CHECK (guard_audit_row_ok(seq, hash, body)) NOT VALID;

CREATE INDEX guard_audit_consumed ON guard_audit ((${CONSUMED_REQUEST_ID})) WHERE ${CONSUMED_PREDICATE};

CREATE FUNCTION guard_append_audit(event_type text, actor text, data text)
  RETURNS TABLE (out_seq bigint, out_prev text, out_time text, out_hash text, out_body text)
  -- A lock held longer than this is not an append in progress (they take milliseconds) but a session
  -- sitting on it: fail with lock_not_available, which guard explains, rather than at the statement timeout.
  LANGUAGE plpgsql SECURITY DEFINER SET lock_timeout = '10s' AS $fn$
DECLARE
  head_seq bigint;
  head_hash text;
  head_body text;
  new_seq bigint;
  new_prev text;
  new_time timestamptz;
  time_text text;
  tail text;
  new_hash text;
BEGIN
  IF current_setting('server_encoding') <> 'UTF8' THEN
    RAISE EXCEPTION 'access-guard: the database encoding is %, guard''s audit log needs UTF8', current_setting('server_encoding')
      USING ERRCODE = 'feature_not_supported';
  END IF;
  IF event_type IS NULL OR length(event_type) > 100 OR event_type !~ '${AUDIT_TYPE_PATTERN}' THEN
    RAISE EXCEPTION 'access-guard: audit event type refused: lowercase words joined by dots' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- Checked while holding the append lock (the CHECK constraint reads the whole row), so bounded: a
  -- caller cannot stall everyone's appends with one enormous event.
  IF octet_length(actor) + octet_length(data) > ${MAX_AUDIT_EVENT_BYTES} THEN
    RAISE EXCEPTION 'access-guard: audit event refused: actor and data exceed % bytes', ${MAX_AUDIT_EVENT_BYTES} USING ERRCODE = 'program_limit_exceeded';
  END IF;
  IF NOT guard_json_object(actor) OR NOT guard_json_object(data) THEN
    RAISE EXCEPTION 'access-guard: an audit event''s actor and data must be JSON objects' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- Held until commit: appends from every client queue here, so each extends the true head.
  PERFORM 1 FROM guard_audit_lock FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'access-guard: the append lock row of guard_audit_lock is missing' USING ERRCODE = 'object_not_in_prerequisite_state',
      HINT = 'the owner restores it: INSERT INTO guard_audit_lock VALUES (true)';
  END IF;
  -- The head is the last row, whatever it holds: a damaged row stops nobody (verify reports it). Rows
  -- beyond the largest safe seq can only predate version 2; they stay after the chain, never in it.
  SELECT a.seq, a.hash, a.body INTO head_seq, head_hash, head_body
    FROM guard_audit a WHERE a.seq < ${MAX_AUDIT_SEQ} ORDER BY a.seq DESC LIMIT 1;
  IF head_seq IS NULL THEN
    new_seq := 1;
    new_prev := repeat('0', 64);
  ELSE
    new_seq := head_seq + 1;
    -- A head whose hash is not a digest (stored before version 2) is linked by the digest of its text.
    new_prev := CASE WHEN head_hash ~ '^[0-9a-f]{64}$' THEN head_hash
                     ELSE encode(sha256(convert_to(coalesce(head_body, ''), 'UTF8')), 'hex') END;
  END IF;
  new_time := date_trunc('milliseconds', clock_timestamp());
  time_text := to_char(new_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
  -- canonicalJson({seq, time, type, actor, data, prev}): keys in sorted order, no whitespace.
  tail := '"prev":"' || new_prev || '","seq":' || new_seq || ',"time":"' || time_text || '","type":"' || event_type || '"}';
  new_hash := encode(sha256(convert_to('{"actor":' || actor || ',"data":' || data || ',' || tail, 'UTF8')), 'hex');
  out_body := '{"actor":' || actor || ',"data":' || data || ',"hash":"' || new_hash || '",' || tail;
  INSERT INTO guard_audit (seq, hash, body, time) VALUES (new_seq, new_hash, out_body, new_time);
  out_seq := new_seq;
  out_prev := new_prev;
  out_time := time_text;
  out_hash := new_hash;
  RETURN NEXT;
END
$fn$;

-- Pinned to guard's schema (wherever this migration runs), then pg_temp: nobody can slip a look-alike
-- table or function in front of the owner's.
DO $do$
BEGIN
  EXECUTE format('ALTER FUNCTION guard_append_audit(text, text, text) SET search_path = %I, pg_temp', current_schema());
END
$do$;
REVOKE ALL ON FUNCTION guard_append_audit(text, text, text) FROM PUBLIC;

-- Every role that could INSERT raw rows now appends through the function instead.
DO $do$
DECLARE
  grantee oid;
BEGIN
  FOR grantee IN
    SELECT DISTINCT acl.grantee FROM pg_class c, aclexplode(c.relacl) acl
     WHERE c.oid = 'guard_audit'::regclass AND acl.privilege_type = 'INSERT' AND acl.grantee <> c.relowner
  LOOP
    IF grantee = 0 THEN
      REVOKE INSERT ON guard_audit FROM PUBLIC CASCADE;
      GRANT EXECUTE ON FUNCTION guard_append_audit(text, text, text) TO PUBLIC;
    ELSE
      -- CASCADE: also what that role passed on WITH GRANT OPTION.
      EXECUTE format('REVOKE INSERT ON guard_audit FROM %s CASCADE', grantee::regrole);
      EXECUTE format('GRANT EXECUTE ON FUNCTION guard_append_audit(text, text, text) TO %s', grantee::regrole);
    END IF;
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_class c, aclexplode(c.relacl) acl
              WHERE c.oid = 'guard_audit'::regclass AND acl.privilege_type = 'INSERT' AND acl.grantee <> c.relowner) THEN
    RAISE EXCEPTION 'access-guard: a role other than the owner still holds INSERT on guard_audit (granted by another role)'
      USING HINT = 'as the owner or a superuser, REVOKE INSERT ON guard_audit FROM that role (see docs/postgres.md), then migrate again';
  END IF;
END
$do$;
`;

/**
 * Version 3: a run's cost independent of history (issue 18). Each request's binding key (core/request.ts
 * bindingKey, computed by guard when it stores the request) is indexed with its expiry, and requests by
 * expiry alone: "the request for this exact run" and "the open requests" read only unexpired rows. Rows
 * stored before version 3 have no key; while unexpired they are read with every lookup.
 */
const V3 = `
ALTER TABLE guard_requests ADD COLUMN binding_key text CHECK (binding_key ~ '^[0-9a-f]{64}$');
CREATE INDEX guard_requests_binding ON guard_requests (binding_key, expires_at);
CREATE INDEX guard_requests_expiry ON guard_requests (expires_at);
`;

/**
 * The rows the break-glass index of version 6 holds (a query must spell it exactly so for the planner to
 * use the index): every row guard may read as a break-glass request.
 */
export const BREAK_GLASS_PREDICATE = "guard_request_break_glass(body) IS NOT FALSE";

/** The arguments of guard_prune(), as GRANT and has_function_privilege name it. */
export const PRUNE_FUNCTION = "guard_prune(timestamptz, bigint, text, text[], bigint, bigint, bigint, text, text)";

/**
 * Version 4: retention (issue 18, `guard store prune`). The append-only triggers now let exactly one
 * thing remove rows: guard_prune(), a SECURITY DEFINER function of the owner that nobody may execute
 * until the owner grants it to a maintenance role (docs/postgres.md). The trigger allows a DELETE only
 * when the current user is the table's owner — inside guard_prune that is the definer; a role that was
 * granted DELETE by mistake is still refused — and a transaction-local setting says a prune is under
 * way (anyone can SET it, but it opens nothing to anyone but the owner, who could drop the trigger
 * anyway). UPDATE and TRUNCATE stay refused for everyone.
 *
 * guard_prune(cutoff, through_seq, through_hash, retired ids, event, approval and consumption counts,
 * actor, checkpoint data) removes exactly what the caller archived, in one transaction under the append
 * lock, or nothing: the cutoff must be at least 7 days old, event through_seq must have that hash, the
 * log must hold exactly that many events up to it, every retired request must exist and have expired
 * before the cutoff, and the approval and consumption rows of those requests must number what was
 * archived (rows are append-only, so equal counts are the same rows). It appends the checkpoint
 * (`store.pruned`, through guard_append_audit, before the deletes, so it extends the true head) and
 * returns it as guard_append_audit does.
 */
const V4 = `
CREATE OR REPLACE FUNCTION guard_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('guard.pruning', true) = 'on'
     AND (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) = (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'access-guard: % on % refused: guard records are append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE FUNCTION guard_prune(cutoff timestamptz, through_seq bigint, through_hash text, retired text[],
                            n_events bigint, n_approvals bigint, n_consumptions bigint, actor text, data text)
  RETURNS TABLE (out_seq bigint, out_prev text, out_time text, out_hash text, out_body text)
  LANGUAGE plpgsql SECURITY DEFINER SET lock_timeout = '10s' AS $fn$
DECLARE
  n bigint;
BEGIN
  IF cutoff IS NULL OR cutoff > clock_timestamp() - interval '7 days' THEN
    RAISE EXCEPTION 'access-guard: prune refused: the cutoff must be at least 7 days ago' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM 1 FROM guard_audit_lock FOR UPDATE; -- no append meanwhile
  IF NOT EXISTS (SELECT 1 FROM guard_audit a WHERE a.seq = through_seq AND a.hash = through_hash) THEN
    RAISE EXCEPTION 'access-guard: prune refused: event % with the archived hash is not in the log', through_seq USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT count(*) INTO n FROM guard_audit a WHERE a.seq <= through_seq;
  IF n <> n_events THEN
    RAISE EXCEPTION 'access-guard: prune refused: the log holds % events up to %, the archive %', n, through_seq, n_events USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF retired IS NULL OR EXISTS (SELECT 1 FROM unnest(retired) AS r(id) LEFT JOIN guard_requests q ON q.id = r.id WHERE q.id IS NULL OR q.expires_at >= cutoff) THEN
    RAISE EXCEPTION 'access-guard: prune refused: a request to retire is not stored, or did not expire before the cutoff' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF (SELECT count(*) FROM guard_approvals p WHERE p.request_id = ANY (retired)) <> n_approvals
     OR (SELECT count(*) FROM guard_consumptions c WHERE c.request_id = ANY (retired)) <> n_consumptions THEN
    RAISE EXCEPTION 'access-guard: prune refused: the approvals or consumptions of the retired requests are not the ones archived' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY SELECT * FROM guard_append_audit('store.pruned', actor, data);
  PERFORM set_config('guard.pruning', 'on', true);
  DELETE FROM guard_audit a WHERE a.seq <= through_seq;
  DELETE FROM guard_approvals p WHERE p.request_id = ANY (retired);
  DELETE FROM guard_consumptions c WHERE c.request_id = ANY (retired);
  DELETE FROM guard_requests q WHERE q.id = ANY (retired);
  PERFORM set_config('guard.pruning', 'off', true);
END
$fn$;

DO $do$
BEGIN
  EXECUTE format('ALTER FUNCTION ${PRUNE_FUNCTION} SET search_path = %I, pg_temp', current_schema());
END
$do$;
REVOKE ALL ON FUNCTION ${PRUNE_FUNCTION} FROM PUBLIC;
`;

/**
 * Version 5: `guard audit log` with filters reads through indexes, not the whole log (issue 18).
 * Expression indexes on the row's body, computed by the database from the text every reader parses (not
 * from the time column, which a row from before version 2 may not agree with):
 * - guard_audit_time(body): the event's time, when the body ends as a canonical body does
 *   (`,"time":"<ISO ms Z>","type":"<type>"}`) and the time is a real calendar date; else NULL. Such an
 *   ending can only be the top-level time member when the body is JSON, so a non-NULL value is exactly
 *   what JSON.parse reads, and as text in the C collation it sorts as Date.parse does.
 * - guard_audit_type(body): the type from the same ending, else NULL.
 * - guard_audit_request(body): data.requestId decoded as JSON (jsonb: the last of repeated keys, as
 *   JSON.parse); '' when there is none; NULL when the body does not decode.
 * A NULL says "unknown": the queries take those rows too, so an index narrows and never decides (the
 * command applies the exact filter). None of the functions can fail: an append must never fail on them.
 * ANALYZE gives the planner the expressions' statistics, so a recent --since is an index range.
 */
const V5 = `
CREATE FUNCTION guard_audit_time(body text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $fn$
DECLARE
  t text;
  y int;
  m int;
  d int;
  days int;
BEGIN
  -- (substring returns the first parenthesised group: the whole time.)
  t := substring(body FROM ',"time":"([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9][.][0-9]{3}Z)","type":"[a-z][a-z0-9_.-]*"[}]$');
  IF t IS NULL THEN
    RETURN NULL;
  END IF;
  d := substr(t, 9, 2)::int;
  IF d > 28 THEN
    y := substr(t, 1, 4)::int;
    m := substr(t, 6, 2)::int;
    days := CASE WHEN m = 2 THEN CASE WHEN (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0 THEN 29 ELSE 28 END
                 WHEN m IN (4, 6, 9, 11) THEN 30 ELSE 31 END;
    IF d > days THEN
      RETURN NULL;
    END IF;
  END IF;
  RETURN t;
END
$fn$;

CREATE FUNCTION guard_audit_type(body text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog
  AS $fn$ SELECT substring(body FROM ',"type":"([a-z][a-z0-9_.-]*)"[}]$') $fn$;

CREATE FUNCTION guard_audit_request(body text) RETURNS text
  -- PARALLEL RESTRICTED: an EXCEPTION block starts a subtransaction, which a parallel worker cannot.
  LANGUAGE plpgsql IMMUTABLE PARALLEL RESTRICTED SET search_path = pg_catalog AS $fn$
BEGIN
  RETURN coalesce(body::jsonb -> 'data' ->> 'requestId', '');
EXCEPTION WHEN others THEN
  RETURN NULL; -- not JSON, a \\u0000 or lone surrogate jsonb refuses, nested too deep: read it
END
$fn$;

CREATE INDEX guard_audit_by_time ON guard_audit ((guard_audit_time(body)) COLLATE "C");
CREATE INDEX guard_audit_untimed ON guard_audit (seq) WHERE guard_audit_time(body) IS NULL;
CREATE INDEX guard_audit_by_type ON guard_audit ((guard_audit_type(body)) COLLATE "C", seq);
CREATE INDEX guard_audit_untyped ON guard_audit (seq) WHERE guard_audit_type(body) IS NULL;
CREATE INDEX guard_audit_by_request ON guard_audit (guard_audit_request(body), seq);
ANALYZE guard_audit;
`;

/**
 * Version 6: `guard requests --review` and the one-unreviewed-break-glass-run check read only break-glass
 * requests, not all of history (issue 18). guard_request_break_glass(body) reads `request.breakGlass` as
 * JSON.parse does (jsonb: the last of repeated keys, escapes decoded): true when it is present and neither
 * false nor null, false otherwise, and NULL when the body does not decode (not JSON, a \u0000 or lone
 * surrogate jsonb refuses, nested too deep). A partial index holds the rows for which it is not false, so
 * a row guard might read as break-glass is never left out, whoever inserted it and however it is spelled;
 * the store keeps those whose record says break-glass and lists undecodable ones as damaged. The function
 * cannot fail (an INSERT must not fail on it) and is executable by PUBLIC (the listing's query calls it
 * as the role that reads).
 * The migration builds the index over the existing rows once; guard_prune's deletes remove their entries.
 */
const V6 = `
CREATE FUNCTION guard_request_break_glass(body text) RETURNS boolean
  -- PARALLEL RESTRICTED: an EXCEPTION block starts a subtransaction, which a parallel worker cannot.
  LANGUAGE plpgsql IMMUTABLE PARALLEL RESTRICTED SET search_path = pg_catalog AS $fn$
BEGIN
  RETURN coalesce((body::jsonb -> 'request' -> 'breakGlass') NOT IN ('false'::jsonb, 'null'::jsonb), false);
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$fn$;

CREATE INDEX guard_requests_break_glass ON guard_requests (created_at DESC, id DESC) WHERE ${BREAK_GLASS_PREDICATE};
`;

/**
 * Version 7: runs go on while the store is pruned (issue 18). guard_prune() of version 4 took the append
 * lock at its start and kept it through the deletes, so on a large store every run's audit append waited
 * behind it and failed (lock_not_available, after 10 s) while a prune deleted. Now, with the same
 * signature, the same grant and the same guarantees (only guard_prune deletes, only a role the owner
 * granted EXECUTE may call it, exactly what was archived is deleted or nothing, in one transaction, the
 * checkpoint chained on the true head):
 * - One prune at a time: a row of guard_prune_lock, on which no other role holds any privilege (not an
 *   advisory lock, which any role could take and hold: see version 1's above), taken NOWAIT — a second
 *   prune planned from the same log could only be refused later, so it is refused at once
 *   (lock_not_available, "another guard store prune is under way").
 * - The checks and the deletes run without the append lock: events up to through_seq and the retired
 *   records are never changed by anyone else (append-only, and prunes are serialised), and appends only
 *   add rows after the head. Each DELETE must remove exactly the archived number of rows (a row inserted
 *   meanwhile that the plan did not count refuses the prune), the request rows only if expired before
 *   the cutoff. Event through_seq itself stays until the end, so the head is never deleted before the
 *   checkpoint is chained on it.
 * - An event after through_seq that names a retired request (data.requestId; for a body the database
 *   cannot decode, any request id it spells) means the request was used after the plan was made: the
 *   prune removes nothing (serialization_failure, "… was named by a new audit event …", which guard
 *   maps to 74, run the prune again), as the file store does. Events up to the head seen before the lock
 *   are checked without it; only those appended since are checked under it. Both read the new events by
 *   seq (the primary key): a handful of rows, where version 5's index by request would be probed once per
 *   retired request.
 * - The append lock is taken last: the remaining check, the checkpoint (guard_append_audit), the delete
 *   of event through_seq, then commit.
 * - The append-only triggers refuse UPDATE and DELETE once per statement, not once per row (the same
 *   test: only the owner, with guard.pruning set; a role granted DELETE by mistake is still refused,
 *   even for a statement that would match no row): per row, the trigger cost a prune of a million
 *   events most of its time. TRUNCATE stays refused by its own trigger.
 */
const V7 = `
CREATE TABLE guard_prune_lock (
  one boolean PRIMARY KEY DEFAULT true CHECK (one)
);
INSERT INTO guard_prune_lock VALUES (true);
REVOKE ALL ON guard_prune_lock FROM PUBLIC;
CREATE TRIGGER guard_prune_lock_append_only BEFORE UPDATE OR DELETE ON guard_prune_lock
  FOR EACH ROW EXECUTE FUNCTION guard_refuse_change();

DROP TRIGGER guard_requests_append_only ON guard_requests;
CREATE TRIGGER guard_requests_append_only BEFORE UPDATE OR DELETE ON guard_requests
  FOR EACH STATEMENT EXECUTE FUNCTION guard_refuse_change();
DROP TRIGGER guard_approvals_append_only ON guard_approvals;
CREATE TRIGGER guard_approvals_append_only BEFORE UPDATE OR DELETE ON guard_approvals
  FOR EACH STATEMENT EXECUTE FUNCTION guard_refuse_change();
DROP TRIGGER guard_consumptions_append_only ON guard_consumptions;
CREATE TRIGGER guard_consumptions_append_only BEFORE UPDATE OR DELETE ON guard_consumptions
  FOR EACH STATEMENT EXECUTE FUNCTION guard_refuse_change();
DROP TRIGGER guard_audit_append_only ON guard_audit;
CREATE TRIGGER guard_audit_append_only BEFORE UPDATE OR DELETE ON guard_audit
  FOR EACH STATEMENT EXECUTE FUNCTION guard_refuse_change();

-- The first event in seq order after lo and up to hi that names a request in ids (a jsonb object whose
-- keys are the ids: a lookup is a binary search, whatever the planner estimates), or no row. The events
-- are read by seq, the primary key: after a plan there are few.
CREATE FUNCTION guard_prune_named(lo bigint, hi bigint, ids jsonb)
  RETURNS TABLE (named_seq bigint, named_type text, named_id text)
  LANGUAGE sql STABLE AS $fn$
  SELECT a.seq, guard_audit_type(a.body), n.id
    FROM guard_audit a
    CROSS JOIN LATERAL (
      SELECT guard_audit_request(a.body) AS id WHERE guard_audit_request(a.body) IS NOT NULL
      UNION ALL
      SELECT m[1] FROM regexp_matches(a.body, '"(r-[a-z2-7]{20})"', 'g') AS m WHERE guard_audit_request(a.body) IS NULL
    ) n
   WHERE a.seq > lo AND a.seq <= hi AND ids ? n.id
   ORDER BY a.seq
   LIMIT 1
$fn$;

CREATE OR REPLACE FUNCTION guard_prune(cutoff timestamptz, through_seq bigint, through_hash text, retired text[],
                                       n_events bigint, n_approvals bigint, n_consumptions bigint, actor text, data text)
  RETURNS TABLE (out_seq bigint, out_prev text, out_time text, out_hash text, out_body text)
  LANGUAGE plpgsql SECURITY DEFINER SET lock_timeout = '10s' AS $fn$
DECLARE
  n bigint;
  checked bigint;
  hit record;
  retired_set jsonb;
BEGIN
  IF cutoff IS NULL OR cutoff > clock_timestamp() - interval '7 days' THEN
    RAISE EXCEPTION 'access-guard: prune refused: the cutoff must be at least 7 days ago' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF retired IS NULL OR n_events IS NULL OR n_approvals IS NULL OR n_consumptions IS NULL THEN
    RAISE EXCEPTION 'access-guard: prune refused: the retired requests and the counts are required' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- One prune at a time, until commit.
  BEGIN
    PERFORM 1 FROM guard_prune_lock FOR UPDATE NOWAIT;
  EXCEPTION WHEN lock_not_available THEN
    RAISE EXCEPTION 'access-guard: prune refused: another guard store prune is under way' USING ERRCODE = 'lock_not_available';
  END;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'access-guard: the prune lock row of guard_prune_lock is missing' USING ERRCODE = 'object_not_in_prerequisite_state',
      HINT = 'the owner restores it: INSERT INTO guard_prune_lock VALUES (true)';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM guard_audit a WHERE a.seq = through_seq AND a.hash = through_hash) THEN
    RAISE EXCEPTION 'access-guard: prune refused: event % with the archived hash is not in the log', through_seq USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(retired) AS r(id) LEFT JOIN guard_requests q ON q.id = r.id WHERE q.id IS NULL OR q.expires_at >= cutoff) THEN
    RAISE EXCEPTION 'access-guard: prune refused: a request to retire is not stored, or did not expire before the cutoff' USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- Without the append lock: runs append meanwhile.
  PERFORM set_config('guard.pruning', 'on', true);
  DELETE FROM guard_audit a WHERE a.seq < through_seq;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n + 1 <> n_events THEN
    RAISE EXCEPTION 'access-guard: prune refused: the log holds % events up to %, the archive %', n + 1, through_seq, n_events USING ERRCODE = 'invalid_parameter_value';
  END IF;
  DELETE FROM guard_approvals p WHERE p.request_id = ANY (retired);
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n <> n_approvals THEN
    RAISE EXCEPTION 'access-guard: prune refused: the approvals or consumptions of the retired requests are not the ones archived' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  DELETE FROM guard_consumptions c WHERE c.request_id = ANY (retired);
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n <> n_consumptions THEN
    RAISE EXCEPTION 'access-guard: prune refused: the approvals or consumptions of the retired requests are not the ones archived' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  DELETE FROM guard_requests q WHERE q.id = ANY (retired);
  PERFORM set_config('guard.pruning', 'off', true);
  retired_set := coalesce((SELECT jsonb_object_agg(r.id, true) FROM unnest(retired) AS r(id)), '{}');
  SELECT max(a.seq) INTO checked FROM guard_audit a WHERE a.seq < ${MAX_AUDIT_SEQ};
  SELECT * INTO hit FROM guard_prune_named(through_seq, checked, retired_set);
  IF FOUND THEN
    RAISE EXCEPTION 'access-guard: prune refused: request %, which this prune retires, was named by a new audit event (%, seq %)', hit.named_id, coalesce(hit.named_type, 'of no type'), hit.named_seq
      USING ERRCODE = 'serialization_failure';
  END IF;

  -- Under the append lock, until commit: the events appended since, the checkpoint on the true head.
  PERFORM 1 FROM guard_audit_lock FOR UPDATE;
  SELECT * INTO hit FROM guard_prune_named(checked, ${MAX_AUDIT_SEQ}, retired_set);
  IF FOUND THEN
    RAISE EXCEPTION 'access-guard: prune refused: request %, which this prune retires, was named by a new audit event (%, seq %)', hit.named_id, coalesce(hit.named_type, 'of no type'), hit.named_seq
      USING ERRCODE = 'serialization_failure';
  END IF;
  RETURN QUERY SELECT * FROM guard_append_audit('store.pruned', actor, data);
  PERFORM set_config('guard.pruning', 'on', true);
  DELETE FROM guard_audit a WHERE a.seq = through_seq AND a.hash = through_hash;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('guard.pruning', 'off', true);
  IF n <> 1 THEN
    RAISE EXCEPTION 'access-guard: prune refused: event % changed while it was being pruned', through_seq USING ERRCODE = 'invalid_parameter_value';
  END IF;
END
$fn$;

DO $do$
BEGIN
  EXECUTE format('ALTER FUNCTION ${PRUNE_FUNCTION} SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION guard_prune_named(bigint, bigint, jsonb) SET search_path = %I, pg_temp', current_schema());
END
$do$;
REVOKE ALL ON FUNCTION guard_prune_named(bigint, bigint, jsonb) FROM PUBLIC;
`;

/** In order; versions are 1, 2, 3, … without gaps. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: "requests, approvals, consumptions, audit; append-only triggers; notifications", sql: V1 },
  { version: 2, description: "audit appends only through guard_append_audit(); CHECK constraints on audit rows; an append lock users cannot take", sql: V2 },
  { version: 3, description: "requests indexed by binding key and expiry: lookups and listings read only unexpired rows", sql: V3 },
  { version: 4, description: "retention: guard_prune() (EXECUTE granted by the owner) is the only way rows are removed", sql: V4 },
  { version: 5, description: "audit events indexed by time, type and request: audit log with filters reads only what can match", sql: V5 },
  { version: 6, description: "break-glass requests indexed: requests --review reads only them", sql: V6 },
  { version: 7, description: "prune: checks and deletes without the append lock, one prune at a time, refused when a retired request is named by a new event", sql: V7 },
];

/** The schema version this build of guard expects. */
export const SCHEMA_VERSION = MIGRATIONS.length;

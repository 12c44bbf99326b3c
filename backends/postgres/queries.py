"""The monitoring and maintenance SQL, as named constants (no string building at run time)."""

from __future__ import annotations

# Relations under an ACCESS EXCLUSIVE lock, granted or queued: size functions would wait
# behind them, so they are left out of every size query and estimated from relpages.
_LOCKED = """
    SELECT DISTINCT relation FROM pg_locks
    WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""

SERVER = """
SELECT current_setting('server_version'),
       extract(epoch FROM now() - pg_postmaster_start_time())::float8,
       pg_is_in_recovery(),
       current_database(),
       pg_database_size(current_database()),
       current_setting('max_connections')::int,
       current_user
"""

REPLICA_LAG = """
SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END
"""

PRIMARY_LAG = """
SELECT application_name, client_addr::text, state,
       extract(epoch FROM coalesce(replay_lag, '0'::interval))::float8
FROM pg_stat_replication ORDER BY 4 DESC
"""

TOP_TABLES = f"""
WITH locked AS ({_LOCKED})
SELECT s.schemaname, s.relname, s.relid::bigint,
       CASE WHEN l.relation IS NULL THEN pg_total_relation_size(s.relid)
            ELSE c.relpages::bigint * current_setting('block_size')::bigint END,
       l.relation IS NOT NULL,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE s.n_live_tup END, s.n_dead_tup,
       extract(epoch FROM greatest(s.last_vacuum, s.last_autovacuum))::float8,
       extract(epoch FROM greatest(s.last_analyze, s.last_autoanalyze))::float8
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
LEFT JOIN locked l ON l.relation = s.relid
ORDER BY 4 DESC NULLS LAST, 1, 2
LIMIT 20
"""

CONNECTIONS = """
SELECT coalesce(state, backend_type), count(*)
FROM pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1 ORDER BY 2 DESC
"""

# Every session of this database that is slow, blocked, blocking someone, or idle inside a
# transaction (other databases' sessions only when they block one of ours).
ACTIVITY = """
WITH blocked AS (
    SELECT pid, pg_blocking_pids(pid) AS blockers FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND datname = current_database()
), blockers AS (SELECT DISTINCT unnest(blockers) AS pid FROM blocked)
SELECT a.pid, coalesce(a.usename, ''), coalesce(a.datname, ''), coalesce(a.application_name, ''),
       coalesce(a.client_addr::text, 'local'), coalesce(a.state, ''),
       extract(epoch FROM now() - a.query_start)::float8,
       extract(epoch FROM now() - a.xact_start)::float8,
       coalesce(a.wait_event_type || ':' || a.wait_event, ''),
       coalesce(b.blockers, '{}'::int[]),
       a.pid IN (SELECT pid FROM blockers),
       left(coalesce(a.query, ''), 500)
FROM pg_stat_activity a
LEFT JOIN blocked b ON b.pid = a.pid
WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
  AND (a.datname = current_database() OR a.pid IN (SELECT pid FROM blockers))
  AND (   (a.state = 'active' AND a.query_start < now() - make_interval(secs => %(long)s::float8))
       OR b.pid IS NOT NULL
       OR a.pid IN (SELECT pid FROM blockers)
       OR a.state LIKE 'idle in transaction%%')
ORDER BY a.query_start NULLS LAST
LIMIT 50
"""

UNUSED_INDEXES = f"""
WITH locked AS ({_LOCKED})
SELECT s.schemaname, s.relname, s.indexrelname, pg_relation_size(s.indexrelid), s.idx_scan
FROM pg_stat_user_indexes s
JOIN pg_index i ON i.indexrelid = s.indexrelid
WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary
  AND s.relid NOT IN (SELECT relation FROM locked)
  AND s.indexrelid NOT IN (SELECT relation FROM locked)
ORDER BY 4 DESC
LIMIT 20
"""

CACHE_HIT = """
SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()
"""

HAS_STATEMENTS = """
SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_stat_statements'
"""

# The schema comes from pg_extension (a trusted identifier), quoted by psycopg.sql.
TOP_STATEMENTS = """
SELECT calls, total_exec_time / 1000.0, mean_exec_time / 1000.0, rows, left(query, 300)
FROM {schema}.pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC
LIMIT 10
"""

SLOTS = """
SELECT slot_name, slot_type, coalesce(database, ''), active,
       CASE WHEN pg_is_in_recovery() OR restart_lsn IS NULL THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END
FROM pg_replication_slots ORDER BY 1
"""

# Maintenance ------------------------------------------------------------------------------
USER_TABLES = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY c.relpages DESC, 1
"""

TABLE_EXISTS = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass(%(name)s) AND c.relkind IN ('r', 'm', 'p')
"""

CANCEL = "SELECT pg_cancel_backend(%(pid)s)"
TERMINATE = "SELECT pg_terminate_backend(%(pid)s)"
BACKEND_EXISTS = "SELECT usename, left(coalesce(query, ''), 80) FROM pg_stat_activity WHERE pid = %(pid)s"

# Backups ----------------------------------------------------------------------------------
# Databases named like a restore's scratch copy, whether anyone is connected to them, and
# the comment a restore leaves on a copy it keeps on purpose.
SCRATCH_DATABASES = r"""
SELECT d.datname, EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname),
       coalesce(shobj_description(d.oid, 'pg_database'), '')
FROM pg_database d WHERE d.datname LIKE '%\_restore\_%'
"""

# The tables' size with their TOAST (where big values live), so a database of large
# documents or images does not show its dump as done at once. From the catalogue's page
# counts: pg_table_size() would wait for the lock of a table being altered.
HEAP_BYTES = """
SELECT coalesce(sum(c.relpages::bigint + coalesce(t.relpages, 0)), 0)::bigint
       * current_setting('block_size')::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""

COPY_PROGRESS = """
SELECT p.relid::regclass::text, p.bytes_processed
FROM pg_stat_progress_copy p JOIN pg_stat_activity a ON a.pid = p.pid
WHERE a.application_name = %(app)s
"""

EXPORT_SNAPSHOT = "SELECT pg_export_snapshot()"

# Proving a restore: per table, the row count and a hash of every row's text.
TABLE_FINGERPRINT = "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM {table} t"

DATABASE_OWNER = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %(name)s"
OTHER_SESSIONS = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = %(name)s AND pid <> pg_backend_pid()
"""

-- Exactly once at every point: how far a send got and who holds it, what each sheet write did,
-- and who stands behind every audited call.

-- How far the current attempt at an outbox message got: '' (no attempt running), 'claimed'
-- (nothing of the message has gone out), 'data' (all of it but the final dot: from here on the
-- server may hold it). A restart resolves a claim by its stage (memory/outbox.py).
ALTER TABLE outbox ADD COLUMN stage TEXT NOT NULL DEFAULT '';
-- host:pid of the process holding the claim: a restart resolves the claims of a dead owner.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;

-- Sheet writes of approved actions and process steps, one per idempotency key: a re-run after
-- a crash finds the earlier write instead of writing again (memory/sheet_writes.py).
CREATE TABLE IF NOT EXISTS sheet_writes (
    idempotency_key TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    sheet TEXT NOT NULL,
    operation TEXT NOT NULL,          -- append | update
    status TEXT NOT NULL,             -- started (the new file is about to replace the old) | done
    before_hash TEXT NOT NULL,        -- sha256 of the file before the write
    after_hash TEXT NOT NULL,         -- sha256 of the file the write produces
    row_values TEXT NOT NULL,         -- JSON: the row as written
    created_at TEXT NOT NULL,
    finished_at TEXT
);

-- Who stands behind each audited call besides ``user`` (whose request it is, the proposer) and
-- ``approval_id`` (the action): who approved it, and the key that makes it happen once (an
-- action id, or run:step for a process step).
ALTER TABLE tool_audit ADD COLUMN decided_by TEXT;
ALTER TABLE tool_audit ADD COLUMN idempotency_key TEXT;

-- New states (the columns are plain TEXT): pending_actions.status 'delivering' (executed, its
-- mail still queued), process_runs.status 'waiting_delivery' and process_run_steps.status
-- 'delivering' (an email step whose message the outbox has not delivered yet).

-- Process runs: one row per run of a YAML-declared process (an RPA workflow).
-- A run is durable: its values and each step's state live here, so a restart resumes it
-- without repeating a completed step.
CREATE TABLE IF NOT EXISTS process_runs (
    id TEXT PRIMARY KEY,                -- R-xxxxxxxx
    process TEXT NOT NULL,
    reference TEXT UNIQUE,              -- the business id, e.g. EXP-00042 (from the form's
                                        -- submission id, or the process's own counter)
    requester TEXT NOT NULL,
    channel TEXT NOT NULL DEFAULT '',
    thread TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'running',
        -- running | waiting_approval | done | rejected | cancelled | failed
    run_values TEXT NOT NULL,           -- JSON: inputs plus what steps collected
    current_step TEXT,
    idempotency_key TEXT UNIQUE,        -- e.g. the approval that started the run: one run per key
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS process_runs_status ON process_runs (status);

-- Each step's state: 'started' is written before a side effect, 'done' after it, so a resume
-- knows which step may have half-happened and must be checked before it is redone.
CREATE TABLE IF NOT EXISTS process_run_steps (
    run_id TEXT NOT NULL REFERENCES process_runs (id),
    step_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    status TEXT NOT NULL,               -- started | waiting | done | skipped | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    result TEXT,                        -- JSON
    action_id TEXT,                     -- the pending action of an approval step
    started_at TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (run_id, step_id)
);

-- Messages for the requester ("your claim EXP-00042 was approved"), kept so a surface can show them.
CREATE TABLE IF NOT EXISTS process_run_notices (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES process_runs (id),
    step_id TEXT NOT NULL,
    message TEXT NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (run_id, step_id)
);

-- Next number per reference prefix (EXP, LV, V): taken in the transaction that creates the run.
CREATE TABLE IF NOT EXISTS process_reference_counters (
    prefix TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);

-- State of the tools: the audit log, form submissions, email drafts and the outbox.

-- Every tool call, whatever its outcome: who, from where, what, how it went, how long.
CREATE TABLE IF NOT EXISTS tool_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,                     -- ISO 8601 UTC, when the call started
    user TEXT NOT NULL,
    channel TEXT NOT NULL DEFAULT '',
    thread TEXT NOT NULL DEFAULT '',
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,              -- JSON as the caller sent it
    status TEXT NOT NULL,                 -- ok | invalid | denied | error | gated
    result TEXT,                          -- the text the caller got back (truncated)
    error TEXT,                           -- what went wrong, for invalid / denied / error
    error_id TEXT,                        -- the id quoted to the user and in the log
    duration_ms REAL NOT NULL DEFAULT 0,
    approval_id TEXT,
    dry_run INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tool_audit_user ON tool_audit (user, id);
CREATE INDEX IF NOT EXISTS tool_audit_tool ON tool_audit (tool, id);
CREATE INDEX IF NOT EXISTS tool_audit_status ON tool_audit (status, id);

-- Form submissions; one per idempotency key.
CREATE TABLE IF NOT EXISTS form_submissions (
    id TEXT PRIMARY KEY,                  -- the form's own id format, e.g. EXP-01001
    form TEXT NOT NULL,
    seq INTEGER NOT NULL,                 -- per form and year, used to build the id
    year INTEGER NOT NULL,
    "values" TEXT NOT NULL,               -- JSON of the validated values
    submitter TEXT NOT NULL,
    channel TEXT NOT NULL DEFAULT '',
    thread TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'submitted',
    idempotency_key TEXT UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (form, year, seq)
);
CREATE INDEX IF NOT EXISTS form_submissions_submitter ON form_submissions (submitter, created_at);

-- Email drafts: composed, not sent.
CREATE TABLE IF NOT EXISTS email_drafts (
    id TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    recipients TEXT NOT NULL,             -- JSON list
    cc TEXT NOT NULL DEFAULT '[]',        -- JSON list
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    template TEXT,
    created_at TEXT NOT NULL
);

-- The outbox: one row per message, delivered at most once on purpose.
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    message_id TEXT NOT NULL UNIQUE,      -- RFC 5322 Message-ID, stable across retries
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,             -- JSON list of envelope recipients (to + cc)
    subject TEXT NOT NULL,
    raw TEXT NOT NULL,                    -- the full message, byte-identical on every attempt
    status TEXT NOT NULL DEFAULT 'pending',
        -- pending | sending | sent | unknown | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_at TEXT,
    last_error TEXT,
    delivered_to TEXT,                    -- smtp://host:port or the .eml file written
    created_by TEXT NOT NULL,
    draft_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);

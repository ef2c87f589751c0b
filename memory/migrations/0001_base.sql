-- Key/value facts about this installation (e.g. which embedder built the knowledge base).
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

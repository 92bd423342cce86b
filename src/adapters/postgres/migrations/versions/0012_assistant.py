"""Assistant: memories with float32 embeddings, their history, conversations, messages, action feedback.

Embeddings are ``bytea`` of little-endian float32 (pgvector is not installed here): recall
loads one user's embeddings in a single aggregated row and ranks them exactly in the core
(docs/assistant.md says how to switch to a pgvector column). Every table is user data with
an owner column ``user_id``: grants, policies on ``(SELECT app.current_user_id())`` and
forced row-level security as in ``0006_security`` and ``0008_policy_initplans``.

Revision ID: 0012_assistant
Revises: 0011_job_workers
"""

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, SYSTEM_ROLE

revision = "0012_assistant"
down_revision = "0011_job_workers"
branch_labels = None
depends_on = None

_ME = "(SELECT app.current_user_id())"
# What the app role may do per table (the system role may do everything).
_GRANTS = {
    "assistant_memory_heads": "SELECT, INSERT, UPDATE",
    "assistant_memories": "SELECT, INSERT, UPDATE, DELETE",
    "assistant_memory_history": "SELECT, INSERT, UPDATE",
    "assistant_conversations": "SELECT, INSERT, UPDATE",
    "assistant_messages": "SELECT, INSERT, UPDATE",
    "assistant_action_feedback": "SELECT, INSERT, UPDATE",
}


def upgrade() -> None:
    # One row per user: every memory write bumps it first, which serializes the user's writes
    # (the near-duplicate check stays exact) and tells recall whether its cached vectors are current.
    op.execute("CREATE TABLE assistant_memory_heads (user_id text PRIMARY KEY, version bigint NOT NULL)")
    op.execute(
        """
        CREATE TABLE assistant_memories (
            id uuid PRIMARY KEY,
            user_id text NOT NULL,
            text text NOT NULL CHECK (length(text) BETWEEN 1 AND 2000),
            embedding bytea NOT NULL,
            dims integer NOT NULL CHECK (dims > 0 AND octet_length(embedding) = 4 * dims),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            expires_at timestamptz,
            version integer NOT NULL
        )
        """
    )
    # Recall reads one user's rows; the list pages them newest first. Both use this index.
    op.execute("CREATE INDEX assistant_memories_user ON assistant_memories (user_id, created_at DESC, id DESC)")
    # The pruning job scans only memories that expire.
    op.execute("CREATE INDEX assistant_memories_expiry ON assistant_memories (expires_at) WHERE expires_at IS NOT NULL")
    op.execute(
        """
        CREATE TABLE assistant_memory_history (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            memory_id uuid NOT NULL,
            user_id text NOT NULL,
            event text NOT NULL CHECK (event IN ('added', 'updated', 'merged', 'forgotten', 'expired')),
            text text NOT NULL,
            previous_text text,
            at timestamptz NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX assistant_memory_history_user ON assistant_memory_history (user_id, seq DESC)")
    op.execute(
        "CREATE INDEX assistant_memory_history_memory ON assistant_memory_history (user_id, memory_id, seq DESC)"
    )
    op.execute(
        """
        CREATE TABLE assistant_conversations (
            id uuid PRIMARY KEY,
            user_id text NOT NULL,
            title text NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )
        """
    )
    op.execute(
        "CREATE INDEX assistant_conversations_user ON assistant_conversations (user_id, updated_at DESC, id DESC)"
    )
    op.execute(
        """
        CREATE TABLE assistant_messages (
            id uuid PRIMARY KEY,
            conversation_id uuid NOT NULL REFERENCES assistant_conversations (id) ON DELETE CASCADE,
            user_id text NOT NULL,
            seq integer NOT NULL,
            role text NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
            content text NOT NULL,
            status text NOT NULL CHECK (status IN ('complete', 'incomplete')),
            created_at timestamptz NOT NULL,
            tool_calls jsonb NOT NULL DEFAULT '[]',
            tool_call_id text,
            tool_name text,
            tool_ok boolean,
            error text,
            UNIQUE (conversation_id, seq)
        )
        """
    )
    # The per-user turn limit counts the user's messages of the last minute.
    op.execute(
        "CREATE INDEX assistant_messages_user_turns ON assistant_messages (user_id, created_at) WHERE role = 'user'"
    )
    op.execute(
        """
        CREATE TABLE assistant_action_feedback (
            user_id text NOT NULL,
            action_key text NOT NULL,
            kind text NOT NULL,
            decision text NOT NULL CHECK (decision IN ('accepted', 'dismissed')),
            decided_at timestamptz NOT NULL,
            PRIMARY KEY (user_id, decided_at, action_key)
        )
        """
    )
    for table, privileges in _GRANTS.items():
        op.execute(f"GRANT {privileges} ON {table} TO {APP_ROLE}")
        op.execute(
            f"CREATE POLICY {table}_user_0 ON {table} FOR ALL TO {APP_ROLE} "
            f"USING (user_id = {_ME}) WITH CHECK (user_id = {_ME})"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {SYSTEM_ROLE}")
        op.execute(f"CREATE POLICY {table}_system ON {table} FOR ALL TO {SYSTEM_ROLE} USING (true) WITH CHECK (true)")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE assistant_memory_history_seq_seq TO {APP_ROLE}")


def downgrade() -> None:
    for table in reversed(list(_GRANTS)):
        op.execute(f"DROP TABLE IF EXISTS {table}")

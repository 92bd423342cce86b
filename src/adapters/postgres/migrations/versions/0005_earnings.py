"""Earnings: the append-only event ledger, its sharded per-creator totals, and the indexes of the hot reads.

``earning_events`` refuses UPDATE, DELETE and TRUNCATE (a trigger), so the ledger can only
grow. ``earning_totals`` keeps each creator's sums per currency split over 16 shard rows,
so concurrent writes for one creator rarely wait on the same row; a summary sums them.

Revision ID: 0005_earnings
Revises: 0001_foundation
"""

from alembic import op

revision = "0005_earnings"
down_revision = "0001_foundation"
branch_labels = ("earnings",)
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE earning_events (
            id              uuid PRIMARY KEY,
            creator_id      text NOT NULL CHECK (length(creator_id) BETWEEN 1 AND 200),
            type            text NOT NULL CHECK (type IN ('earning', 'capture', 'void', 'refund')),
            kind            text NOT NULL CHECK (length(kind) BETWEEN 1 AND 40),
            -- The earning a capture, void or refund is about; NULL on an earning itself, so the
            -- hot path (recording earnings) pays for no foreign-key check.
            earning_id      uuid REFERENCES earning_events (id),
            amount          bigint NOT NULL CHECK (amount > 0),
            currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
            reason          text,
            recorded_at     timestamptz NOT NULL,
            CONSTRAINT earning_events_follow_ups_reference_earnings CHECK ((type = 'earning') = (earning_id IS NULL)),
            CONSTRAINT earning_events_refunds_have_reasons CHECK ((type = 'refund') = (reason IS NOT NULL))
        )
        """
    )
    # The timeline: a creator's events newest first, read backwards from the cursor's
    # (recorded_at, id). The INCLUDE columns make recompute an index-only scan of the same index.
    op.execute(
        """
        CREATE INDEX earning_events_timeline ON earning_events (creator_id, recorded_at, id)
        INCLUDE (currency, type, amount)
        """
    )
    # The timeline filtered by kind (the "sales only" tab).
    op.execute("CREATE INDEX earning_events_kind_timeline ON earning_events (creator_id, kind, recorded_at, id)")
    # An earning's captures, voids and refunds: its balance, summed under the earning's row lock.
    op.execute(
        """
        CREATE INDEX earning_events_follow_ups ON earning_events (earning_id) INCLUDE (type, amount)
        WHERE type <> 'earning'
        """
    )
    op.execute(
        """
        CREATE FUNCTION app.earning_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'earning_events is append-only: % is not allowed; record a new event instead', TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER earning_events_no_update_or_delete BEFORE UPDATE OR DELETE ON earning_events
        FOR EACH ROW EXECUTE FUNCTION app.earning_events_append_only()
        """
    )
    op.execute(
        """
        CREATE TRIGGER earning_events_no_truncate BEFORE TRUNCATE ON earning_events
        FOR EACH STATEMENT EXECUTE FUNCTION app.earning_events_append_only()
        """
    )
    op.execute(
        """
        CREATE TABLE earning_totals (
            creator_id text NOT NULL,
            currency   text NOT NULL,
            shard      smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
            total      bigint NOT NULL DEFAULT 0,
            captured   bigint NOT NULL DEFAULT 0,
            voided     bigint NOT NULL DEFAULT 0,
            refunded   bigint NOT NULL DEFAULT 0,
            events     bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (creator_id, currency, shard)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS earning_totals")
    op.execute("DROP TABLE IF EXISTS earning_events")
    op.execute("DROP FUNCTION IF EXISTS app.earning_events_append_only()")

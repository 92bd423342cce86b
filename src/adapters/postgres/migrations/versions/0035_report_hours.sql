-- The reports' hourly sums (migration 0035_report_hours), kept by triggers in the transaction of
-- every write to the ledger and to the registrations; docs/reports.md, "Storage (Postgres)".
--
-- report_hour_counts: the registrations made in one UTC hour of one event, per stored status
-- and currency: how many, the tickets and discounts of those ever confirmed.
-- report_hour_money: the ledger's earnings, captures, voids and refunds of the registrations
-- made in one UTC hour of one event, per currency. No status: a report's money is per day and
-- currency, so a status change moves no money (and needs nothing of the ledger).
--
-- Each function adds what one statement changed (its transition tables), grouped, and skips
-- groups that did not change: an update that changes nothing the sums read writes nothing.
-- Rows are upserted in key order, so two statements touching several of the same rows (two
-- expiry sweeps) lock them in the same order and cannot deadlock.
-- Registrations are never deleted (a TRUNCATE, in tests, must truncate these tables too).

-- Ledger events add to the hour of the registration whose earning they are about. A
-- registration linked to its earning after the earning was written (the same transaction,
-- at confirmation) gets the earning's sums when the link is written (below).
CREATE FUNCTION app.report_hours_ledger_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
        INSERT INTO report_hour_money AS m (producer_id, event_id, hour, currency, gross, captured, voided, refunded)
        SELECT r.producer_id, r.event_id, date_trunc('hour', r.created_at, 'UTC'), r.currency,
               coalesce(sum(n.amount) FILTER (WHERE n.type = 'earning'), 0),
               coalesce(sum(n.amount) FILTER (WHERE n.type = 'capture'), 0),
               coalesce(sum(n.amount) FILTER (WHERE n.type = 'void'), 0),
               coalesce(sum(n.amount) FILTER (WHERE n.type = 'refund'), 0)
        FROM new_events n
        JOIN event_registrations r ON r.earning_id = coalesce(n.earning_id, n.id)::text
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (producer_id, event_id, hour, currency) DO UPDATE SET
            gross = m.gross + excluded.gross,
            captured = m.captured + excluded.captured,
            voided = m.voided + excluded.voided,
            refunded = m.refunded + excluded.refunded;
    RETURN NULL;
END
$$;

CREATE FUNCTION app.report_hours_registrations_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
        INSERT INTO report_hour_counts AS c (producer_id, event_id, hour, status, currency, registrations, tickets,
                                             discounts)
        SELECT producer_id, event_id, date_trunc('hour', created_at, 'UTC'), status, currency, count(*),
               coalesce(sum(quantity) FILTER (WHERE confirm_key IS NOT NULL), 0),
               coalesce(sum(discount) FILTER (WHERE confirm_key IS NOT NULL), 0)
        FROM new_rows GROUP BY 1, 2, 3, 4, 5
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (producer_id, event_id, hour, status, currency) DO UPDATE SET
            registrations = c.registrations + excluded.registrations,
            tickets = c.tickets + excluded.tickets,
            discounts = c.discounts + excluded.discounts;
        INSERT INTO report_hour_money AS m (producer_id, event_id, hour, currency, gross, captured, voided, refunded)
        SELECT x.producer_id, x.event_id, date_trunc('hour', x.created_at, 'UTC'), x.currency,
               coalesce(sum(x.sign * l.amount) FILTER (WHERE l.type = 'earning'), 0),
               coalesce(sum(x.sign * l.amount) FILTER (WHERE l.type = 'capture'), 0),
               coalesce(sum(x.sign * l.amount) FILTER (WHERE l.type = 'void'), 0),
               coalesce(sum(x.sign * l.amount) FILTER (WHERE l.type = 'refund'), 0)
        FROM (SELECT 1 AS sign, producer_id, event_id, created_at, currency, earning_id FROM new_rows) AS x
        JOIN LATERAL (
            SELECT e.type, e.amount FROM earning_events e
            WHERE e.id = CAST(x.earning_id AS uuid) AND e.type = 'earning'
            UNION ALL
            SELECT f.type, f.amount FROM earning_events f
            WHERE f.earning_id = CAST(x.earning_id AS uuid) AND f.type <> 'earning'
        ) AS l ON true
        WHERE x.earning_id IS NOT NULL
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (producer_id, event_id, hour, currency) DO UPDATE SET
            gross = m.gross + excluded.gross,
            captured = m.captured + excluded.captured,
            voided = m.voided + excluded.voided,
            refunded = m.refunded + excluded.refunded;
    RETURN NULL;
END
$$;

CREATE FUNCTION app.report_hours_registrations_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
        INSERT INTO report_hour_counts AS c (producer_id, event_id, hour, status, currency, registrations, tickets,
                                             discounts)
        SELECT producer_id, event_id, hour, status, currency, sum(registrations), sum(tickets), sum(discounts)
        FROM (
            SELECT producer_id, event_id, date_trunc('hour', created_at, 'UTC') AS hour, status, currency,
                   -1 AS registrations, -CASE WHEN confirm_key IS NOT NULL THEN quantity ELSE 0 END AS tickets,
                   -CASE WHEN confirm_key IS NOT NULL THEN discount ELSE 0 END AS discounts
            FROM old_rows
            UNION ALL
            SELECT producer_id, event_id, date_trunc('hour', created_at, 'UTC'), status, currency,
                   1, CASE WHEN confirm_key IS NOT NULL THEN quantity ELSE 0 END,
                   CASE WHEN confirm_key IS NOT NULL THEN discount ELSE 0 END
            FROM new_rows
        ) AS changes
        GROUP BY 1, 2, 3, 4, 5
        HAVING sum(registrations) <> 0 OR sum(tickets) <> 0 OR sum(discounts) <> 0
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (producer_id, event_id, hour, status, currency) DO UPDATE SET
            registrations = c.registrations + excluded.registrations,
            tickets = c.tickets + excluded.tickets,
            discounts = c.discounts + excluded.discounts;
        -- Money moves only when what places it changed: the link to an earning (written at
        -- confirmation), or the event, producer, creation time or currency (never, today).
        INSERT INTO report_hour_money AS m (producer_id, event_id, hour, currency, gross, captured, voided, refunded)
        SELECT x.producer_id, x.event_id, date_trunc('hour', x.created_at, 'UTC'), x.currency,
               coalesce(sum(x.sign * l.amount) FILTER (WHERE l.type = 'earning'), 0),
               coalesce(sum(x.sign * l.amount) FILTER (WHERE l.type = 'capture'), 0),
               coalesce(sum(x.sign * l.amount) FILTER (WHERE l.type = 'void'), 0),
               coalesce(sum(x.sign * l.amount) FILTER (WHERE l.type = 'refund'), 0)
        FROM (
            SELECT -1 AS sign, o.producer_id, o.event_id, o.created_at, o.currency, o.earning_id
            FROM old_rows o JOIN new_rows n USING (registration_id)
            WHERE (o.earning_id, o.producer_id, o.event_id, o.created_at, o.currency)
                  IS DISTINCT FROM (n.earning_id, n.producer_id, n.event_id, n.created_at, n.currency)
            UNION ALL
            SELECT 1, n.producer_id, n.event_id, n.created_at, n.currency, n.earning_id
            FROM old_rows o JOIN new_rows n USING (registration_id)
            WHERE (o.earning_id, o.producer_id, o.event_id, o.created_at, o.currency)
                  IS DISTINCT FROM (n.earning_id, n.producer_id, n.event_id, n.created_at, n.currency)
        ) AS x
        JOIN LATERAL (
            SELECT e.type, e.amount FROM earning_events e
            WHERE e.id = CAST(x.earning_id AS uuid) AND e.type = 'earning'
            UNION ALL
            SELECT f.type, f.amount FROM earning_events f
            WHERE f.earning_id = CAST(x.earning_id AS uuid) AND f.type <> 'earning'
        ) AS l ON true
        WHERE x.earning_id IS NOT NULL
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (producer_id, event_id, hour, currency) DO UPDATE SET
            gross = m.gross + excluded.gross,
            captured = m.captured + excluded.captured,
            voided = m.voided + excluded.voided,
            refunded = m.refunded + excluded.refunded;
    RETURN NULL;
END
$$;

CREATE TRIGGER report_hours_ledger AFTER INSERT ON earning_events
REFERENCING NEW TABLE AS new_events
FOR EACH STATEMENT EXECUTE FUNCTION app.report_hours_ledger_inserted();

CREATE TRIGGER report_hours_registrations_inserted AFTER INSERT ON event_registrations
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION app.report_hours_registrations_inserted();

CREATE TRIGGER report_hours_registrations_updated AFTER UPDATE ON event_registrations
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION app.report_hours_registrations_updated();

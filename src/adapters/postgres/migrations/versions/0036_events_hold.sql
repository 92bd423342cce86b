-- app.events_hold (first defined in 0032_events_hold.sql), now locking the lapsed holds it takes
-- off (FOR SHARE, before counting): a confirmation no longer takes the event's row, so what
-- keeps a lapsed hold from being confirmed after its seats were counted free is its own row lock
-- (docs/events.md, "Atomicity").
-- app.events_hold: a reservation the core decided on, written in one statement (one
-- autocommit round trip in single_statements()), so the event's row lock (and a limited
-- code's) lasts only as long as this call.
--
-- Under the event's lock it writes the hold only if what the core decided on still stands:
-- the event and the ticket type as read (status, sales window, capacity, currency, quota,
-- price), nobody waiting in the event's line (waitlist claims are the locked path's), and the
-- limits the core passes: the seats held at p_now plus the quantity within the quota and the
-- capacity, and with a code of limited uses, its uses (and the attendee's) below max_uses
-- (per_user_limit), counted under the code's row lock, which serializes every reservation
-- counting them over all of the producer's events. Seats held = the counters
-- (0032_events_counts.sql) less the holds lapsed by p_now not yet marked expired, read in one
-- statement after the locks, so in one snapshot that includes every hold committed before.
--
-- Returns 'held', or why not, in this order: 'changed', 'taken' (the registration id exists),
-- 'line', 'full', 'used_up'. Nothing is written unless 'held'; the core then takes the locked
-- path, which decides afresh and names the refusal.
CREATE OR REPLACE FUNCTION app.events_hold(
    p_role text, p_user text,
    p_registration_id text, p_event_id text, p_type_id text, p_attendee_id text, p_producer_id text,
    p_quantity integer, p_currency text, p_unit_price bigint, p_subtotal bigint, p_discount bigint, p_total bigint,
    p_expires_at timestamptz, p_reserve_key text, p_code text, p_now timestamptz,
    p_status text, p_sales_start timestamptz, p_sales_end timestamptz, p_starts_at timestamptz,
    p_capacity integer, p_quota integer, p_max_uses integer, p_per_user_limit integer
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_event events%ROWTYPE;
    v_type event_ticket_types%ROWTYPE;
    v_event_held bigint;
    v_type_held bigint;
    v_uses bigint;
    v_mine bigint;
BEGIN
    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;
    SELECT * INTO v_event FROM events e WHERE e.event_id = p_event_id FOR UPDATE;
    IF NOT FOUND OR (v_event.status, v_event.sales_start, v_event.sales_end, v_event.starts_at, v_event.capacity,
                     v_event.currency, v_event.producer_id)
            IS DISTINCT FROM (p_status, p_sales_start, p_sales_end, p_starts_at, p_capacity, p_currency, p_producer_id)
    THEN
        RETURN 'changed';
    END IF;
    SELECT * INTO v_type FROM event_ticket_types t WHERE t.event_id = p_event_id AND t.type_id = p_type_id;
    IF NOT FOUND OR (v_type.quota, v_type.price) IS DISTINCT FROM (p_quota, p_unit_price) THEN
        RETURN 'changed';
    END IF;
    -- Under the event's lock: a racing retry of the key waits here and finds the hold.
    IF EXISTS (SELECT 1 FROM event_registrations r WHERE r.registration_id = p_registration_id) THEN
        RETURN 'taken';
    END IF;
    IF EXISTS (SELECT 1 FROM event_waitlist w WHERE w.event_id = p_event_id AND w.status = 'waiting') THEN
        RETURN 'line';
    END IF;
    -- The lapsed holds this count takes off, locked until the commit (key order; none, usually): a
    -- confirmation of one of them locks it first and reads the clock after, so it sees the lapse.
    PERFORM 1 FROM event_registrations r
    WHERE r.event_id = p_event_id AND r.status = 'reserved' AND r.expires_at <= p_now
    ORDER BY r.registration_id FOR SHARE;
    SELECT coalesce(sum(t.held), 0)
               - coalesce((SELECT sum(r.quantity) FROM event_registrations r
                           WHERE r.event_id = p_event_id AND r.status = 'reserved' AND r.expires_at <= p_now), 0),
           coalesce(sum(t.held) FILTER (WHERE t.type_id = p_type_id), 0)
               - coalesce((SELECT sum(r.quantity) FROM event_registrations r
                           WHERE r.event_id = p_event_id AND r.type_id = p_type_id AND r.status = 'reserved'
                             AND r.expires_at <= p_now), 0)
    INTO v_event_held, v_type_held
    FROM event_ticket_types t WHERE t.event_id = p_event_id;
    IF v_type_held + p_quantity > p_quota OR v_event_held + p_quantity > p_capacity THEN
        RETURN 'full';
    END IF;
    IF p_code IS NOT NULL AND (p_max_uses IS NOT NULL OR p_per_user_limit IS NOT NULL) THEN
        PERFORM 1 FROM event_discount_codes c WHERE c.producer_id = p_producer_id AND c.code = p_code FOR UPDATE;
        -- A new statement: its snapshot, taken after the lock, has every use committed before.
        SELECT c.uses_held
                   - (SELECT count(*) FROM event_registrations r
                      WHERE r.producer_id = p_producer_id AND r.discount_code = p_code AND r.status = 'reserved'
                        AND r.expires_at <= p_now),
               (SELECT count(*) FROM event_registrations r
                WHERE r.producer_id = p_producer_id AND r.discount_code = p_code AND r.attendee_id = p_attendee_id
                  AND r.status IN ('reserved', 'confirmed') AND (r.status = 'confirmed' OR r.expires_at > p_now))
        INTO v_uses, v_mine
        FROM event_discount_codes c WHERE c.producer_id = p_producer_id AND c.code = p_code;
        IF v_uses >= p_max_uses OR v_mine >= p_per_user_limit THEN
            RETURN 'used_up';
        END IF;
    END IF;
    INSERT INTO event_registrations (
        registration_id, event_id, type_id, attendee_id, producer_id, quantity, currency, unit_price, subtotal,
        discount, total, status, expires_at, refunded, reserve_key, confirm_key, earning_id, created_at, updated_at,
        discount_code
    ) VALUES (
        p_registration_id, p_event_id, p_type_id, p_attendee_id, p_producer_id, p_quantity, p_currency, p_unit_price,
        p_subtotal, p_discount, p_total, 'reserved', p_expires_at, 0, p_reserve_key, NULL, NULL, p_now, p_now, p_code
    )
    ON CONFLICT (registration_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'taken';
    END IF;
    RETURN 'held';
END
$$;

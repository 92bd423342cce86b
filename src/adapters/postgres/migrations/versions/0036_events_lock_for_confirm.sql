-- app.events_lock_for_confirm (first defined in 0032_events_lock_for_confirm.sql), now without the
-- event's row: a confirmation changes no seat count (reserved and confirmed both hold), so it need
-- not wait for the event's reservations, nor they for it. What it must not miss is a reservation
-- that counted this very hold as lapsed: such a reservation locks the lapsed holds it takes off
-- (app.events_hold, EventStore.held_seats_for_change) until its commit, and this locks the hold
-- FOR UPDATE before the core reads the clock, so the clock is read after that commit.
--
-- No row: no such registration of p_attendee_id (someone else's is not locked). Otherwise, in
-- this order: the advisory lock on (attendee, confirm key), the registration that key already
-- confirmed (read after that lock), the event's row FOR SHARE only for a waitlist offer (its
-- entry changes only under the event's lock), the registration FOR UPDATE, then a code with
-- limited uses FOR SHARE (a reservation on another event counting its uses holds it FOR UPDATE:
-- the clock is read after it too). Lock order: event, registrations, code, as every writer.
CREATE OR REPLACE FUNCTION app.events_lock_for_confirm(
    p_role text, p_user text, p_registration_id text, p_attendee_id text, p_confirm_key text
) RETURNS TABLE (
    registration_id text, event_id text, type_id text, attendee_id text, producer_id text, quantity integer,
    currency text, unit_price bigint, subtotal bigint, discount bigint, total bigint, status text,
    expires_at timestamptz, refunded bigint, reserve_key text, confirm_key text, earning_id text,
    created_at timestamptz, updated_at timestamptz, discount_code text, prior_registration_id text
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_found record;
    v_prior text;
BEGIN
    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;
    SELECT r.event_id, r.producer_id, r.discount_code INTO v_found
    FROM event_registrations r WHERE r.registration_id = p_registration_id AND r.attendee_id = p_attendee_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended(p_attendee_id || E'\n' || p_confirm_key, 0));
    SELECT r.registration_id INTO v_prior
    FROM event_registrations r WHERE r.attendee_id = p_attendee_id AND r.confirm_key = p_confirm_key;
    IF EXISTS (SELECT 1 FROM event_waitlist w WHERE w.registration_id = p_registration_id) THEN
        PERFORM 1 FROM events e WHERE e.event_id = v_found.event_id FOR SHARE;
    END IF;
    PERFORM 1 FROM event_registrations r WHERE r.registration_id = p_registration_id FOR UPDATE;
    IF v_found.discount_code IS NOT NULL THEN
        PERFORM 1 FROM event_discount_codes c
        WHERE c.producer_id = v_found.producer_id AND c.code = v_found.discount_code
          AND (c.max_uses IS NOT NULL OR c.per_user_limit IS NOT NULL)
        FOR SHARE;
    END IF;
    -- A new statement: the registration as it is under those locks.
    RETURN QUERY
        SELECT r.registration_id, r.event_id, r.type_id, r.attendee_id, r.producer_id, r.quantity, r.currency,
               r.unit_price, r.subtotal, r.discount, r.total, r.status, r.expires_at, r.refunded, r.reserve_key,
               r.confirm_key, r.earning_id, r.created_at, r.updated_at, r.discount_code, v_prior
        FROM event_registrations r WHERE r.registration_id = p_registration_id;
END
$$;

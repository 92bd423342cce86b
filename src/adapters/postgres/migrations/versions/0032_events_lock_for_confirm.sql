-- app.events_lock_for_confirm: a confirmation's locks and reads in one call (it runs inside the
-- confirmation's transaction, after which the core reads the clock, writes the earning and
-- the registration).
--
-- No row: no such registration of p_attendee_id (someone else's is not locked). Otherwise, in
-- this order: the advisory lock on (attendee, confirm key), the registration that key already
-- confirmed (read after that lock, so a racing confirmation under the key has committed), the
-- event's row FOR SHARE (confirmations of one event run side by side; whatever changes its
-- seats takes it FOR UPDATE and waits for them), a code with limited uses FOR SHARE (a
-- reservation counting its uses takes it FOR UPDATE), then the registration itself FOR UPDATE,
-- returned as it is under those locks with the prior registration's id.
CREATE FUNCTION app.events_lock_for_confirm(
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
    PERFORM 1 FROM events e WHERE e.event_id = v_found.event_id FOR SHARE;
    IF v_found.discount_code IS NOT NULL THEN
        PERFORM 1 FROM event_discount_codes c
        WHERE c.producer_id = v_found.producer_id AND c.code = v_found.discount_code
          AND (c.max_uses IS NOT NULL OR c.per_user_limit IS NOT NULL)
        FOR SHARE;
    END IF;
    RETURN QUERY
        SELECT r.registration_id, r.event_id, r.type_id, r.attendee_id, r.producer_id, r.quantity, r.currency,
               r.unit_price, r.subtotal, r.discount, r.total, r.status, r.expires_at, r.refunded, r.reserve_key,
               r.confirm_key, r.earning_id, r.created_at, r.updated_at, r.discount_code, v_prior
        FROM event_registrations r WHERE r.registration_id = p_registration_id FOR UPDATE;
END
$$;

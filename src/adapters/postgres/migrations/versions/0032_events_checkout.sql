-- app.events_checkout: what a reservation decides on, read in one call (one autocommit round
-- trip in single_statements()): the event (e_*), one row per ticket type (t_*; one row with
-- NULLs when it has none), the producer's code if one was given (c_*), whether the
-- registration id is taken and whether anyone waits in the event's line. No lock: the hold
-- that follows (app.events_hold) re-checks what it depends on under the event's lock.
-- No row at all: no such event.
CREATE FUNCTION app.events_checkout(
    p_role text, p_user text, p_event_id text, p_code text, p_registration_id text
) RETURNS TABLE (
    e_event_id text, e_producer_id text, e_title text, e_description text, e_starts_at timestamptz,
    e_ends_at timestamptz, e_time_zone text, e_online boolean, e_venue text, e_sales_start timestamptz,
    e_sales_end timestamptz, e_capacity integer, e_currency text, e_status text, e_publications integer,
    e_created_at timestamptz, e_updated_at timestamptz, e_waitlist_mode text, e_offer_hours integer,
    t_event_id text, t_type_id text, t_name text, t_price bigint, t_quota integer, t_created_at timestamptz,
    c_producer_id text, c_code text, c_event_id text, c_kind text, c_value bigint, c_valid_from timestamptz,
    c_valid_until timestamptz, c_max_uses integer, c_per_user_limit integer, c_min_quantity integer,
    c_type_ids text[], c_created_at timestamptz,
    taken boolean, waiting boolean
) LANGUAGE plpgsql AS $$
BEGIN
    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;
    RETURN QUERY
        SELECT e.event_id, e.producer_id, e.title, e.description, e.starts_at, e.ends_at, e.time_zone, e.online,
               e.venue, e.sales_start, e.sales_end, e.capacity, e.currency, e.status, e.publications, e.created_at,
               e.updated_at, e.waitlist_mode, e.offer_hours,
               t.event_id, t.type_id, t.name, t.price, t.quota, t.created_at,
               c.producer_id, c.code, c.event_id, c.kind, c.value, c.valid_from, c.valid_until, c.max_uses,
               c.per_user_limit, c.min_quantity, c.type_ids, c.created_at,
               EXISTS (SELECT 1 FROM event_registrations r WHERE r.registration_id = p_registration_id),
               EXISTS (SELECT 1 FROM event_waitlist w WHERE w.event_id = e.event_id AND w.status = 'waiting')
        FROM events e
        LEFT JOIN event_ticket_types t ON t.event_id = e.event_id
        LEFT JOIN event_discount_codes c ON c.producer_id = e.producer_id AND c.code = p_code
        WHERE e.event_id = p_event_id
        ORDER BY t.created_at, t.type_id;
END
$$;

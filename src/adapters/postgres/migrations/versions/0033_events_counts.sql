-- The counters' triggers (first defined in 0032_events_counts.sql), now keeping a code's counter
-- only for a code with limited uses (max_uses or per_user_limit; a code never changes): only
-- those are counted at checkout, and a counter row shared by every event of a producer made
-- their checkouts wait for each other's commits (Postgres releases a row lock after the
-- commit's WAL flush). An unlimited code's uses are counted from its registrations.

CREATE OR REPLACE FUNCTION app.events_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    FOR v IN
        SELECT n.producer_id, n.discount_code, count(*)::integer AS uses
        FROM inserted n
        WHERE n.discount_code IS NOT NULL AND n.status IN ('reserved', 'confirmed')
        GROUP BY n.producer_id, n.discount_code ORDER BY n.producer_id, n.discount_code
    LOOP
        UPDATE event_discount_codes c SET uses_held = c.uses_held + v.uses
        WHERE c.producer_id = v.producer_id AND c.code = v.discount_code
          AND (c.max_uses IS NOT NULL OR c.per_user_limit IS NOT NULL);
    END LOOP;
    FOR v IN
        SELECT n.event_id, n.type_id, sum(n.quantity)::integer AS seats
        FROM inserted n
        WHERE n.status IN ('reserved', 'confirmed')
        GROUP BY n.event_id, n.type_id ORDER BY n.event_id, n.type_id
    LOOP
        UPDATE event_ticket_types t SET held = t.held + v.seats
        WHERE t.event_id = v.event_id AND t.type_id = v.type_id;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION app.events_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    -- Only a change between holding (reserved, confirmed) and not holding moves a count: a
    -- confirmation changes nothing, and updates no counter row.
    FOR v IN
        SELECT n.producer_id, n.discount_code,
               sum((n.status IN ('reserved', 'confirmed'))::integer - (o.status IN ('reserved', 'confirmed'))::integer)::integer
                   AS uses
        FROM updated n JOIN previous o USING (registration_id)
        WHERE n.discount_code IS NOT NULL
        GROUP BY n.producer_id, n.discount_code
        HAVING sum((n.status IN ('reserved', 'confirmed'))::integer - (o.status IN ('reserved', 'confirmed'))::integer) <> 0
        ORDER BY n.producer_id, n.discount_code
    LOOP
        UPDATE event_discount_codes c SET uses_held = c.uses_held + v.uses
        WHERE c.producer_id = v.producer_id AND c.code = v.discount_code
          AND (c.max_uses IS NOT NULL OR c.per_user_limit IS NOT NULL);
    END LOOP;
    FOR v IN
        SELECT n.event_id, n.type_id,
               sum(CASE WHEN n.status IN ('reserved', 'confirmed') THEN n.quantity ELSE 0 END
                   - CASE WHEN o.status IN ('reserved', 'confirmed') THEN o.quantity ELSE 0 END)::integer AS seats
        FROM updated n JOIN previous o USING (registration_id)
        GROUP BY n.event_id, n.type_id
        HAVING sum(CASE WHEN n.status IN ('reserved', 'confirmed') THEN n.quantity ELSE 0 END
                   - CASE WHEN o.status IN ('reserved', 'confirmed') THEN o.quantity ELSE 0 END) <> 0
        ORDER BY n.event_id, n.type_id
    LOOP
        UPDATE event_ticket_types t SET held = t.held + v.seats
        WHERE t.event_id = v.event_id AND t.type_id = v.type_id;
    END LOOP;
    RETURN NULL;
END
$$;

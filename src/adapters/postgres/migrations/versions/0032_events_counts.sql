-- Events' counters (migration 0035): the store's own bookkeeping, kept in the statement that
-- changes a registration's status, so that counting seats and a code's uses no longer reads
-- every registration.
--
--   event_ticket_types.held        seats of the type's registrations that are reserved or confirmed
--   event_discount_codes.uses_held registrations with the code that are reserved or confirmed
--
-- Both count by status, whatever the clock says: a hold past its expiry still counts until the
-- bookkeeping job marks it expired. Readers take those lapsed holds off (a small partial index
-- over reserved rows), so seats and uses still free at the expiry instant.
--
-- The counts change in statement-level triggers (one UPDATE per ticket type or code a
-- statement touched, whatever the number of rows: a promotion's 10,000 offers are one). They
-- update the codes first, then the ticket types, each in key order, the order every writer
-- takes them in (docs/events.md, "Atomicity"), so two statements never wait for each other
-- in a circle.

CREATE FUNCTION app.events_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
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
        WHERE c.producer_id = v.producer_id AND c.code = v.discount_code;
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

CREATE FUNCTION app.events_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
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
        WHERE c.producer_id = v.producer_id AND c.code = v.discount_code;
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

CREATE TRIGGER event_registrations_count_inserted AFTER INSERT ON event_registrations
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION app.events_count_inserted();
CREATE TRIGGER event_registrations_count_updated AFTER UPDATE ON event_registrations
    REFERENCING OLD TABLE AS previous NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION app.events_count_updated();

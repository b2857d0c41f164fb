"""Field operations: network sections, work orders, preventive maintenance plans, subscriber requests,
the on-call rota and its paging, planned and unplanned outages with their notices, proof of repair.

- ``network_sections``: the registry's sections of pipe (a tree: a section hangs from its ``parent``,
  a root section may name the ``plant`` feeding it); a substation sits on one section.
- ``work_orders``: an intervention on exactly one substation, plant or section, its life cycle
  (to_plan → planned → in_progress → done, or cancelled), time spent [min], its parts, its history in
  ``work_order_events``; alarms it answers in ``work_order_alarms``; for an order closed on a
  substation, the verdict of the proof of repair and its evidence.
- ``maintenance_plans``: one yearly preventive visit per substation (month, team); a generated order
  carries ``plan_year`` so a year is generated once.
- ``service_requests``: subscribers' requests about a delivery point, their answer, the order they joined.
- ``on_call_people`` and ``on_call_shifts``: who is on call each week (Monday, Europe/Paris), by rank;
  ``alarm_pages``: each person paged for an alarm (the escalation's trace).
- ``outages``: planned works or an unplanned cut on a substation, plant or section; the substations
  it cuts (``outage_substations``, computed from the registry when it is declared) and the notice each
  affected subscriber got (``outage_notices``, once each).
"""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities

EVENTS = ("raised", "acknowledged", "cleared", "notified", "escalated")


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute(REGISTRY)
    cur.execute(ORDERS)
    cur.execute(ON_CALL)
    cur.execute(OUTAGES)
    names = [r[0] for r in cur.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'alarm_events'::regclass AND contype = 'c' "
        "AND pg_get_constraintdef(oid) LIKE '%%event%%'").fetchall()]
    for name in names:
        cur.execute(f'ALTER TABLE alarm_events DROP CONSTRAINT "{name}"')
    events = ", ".join(f"'{e}'" for e in EVENTS)
    cur.execute(f"ALTER TABLE alarm_events ADD CONSTRAINT alarm_events_event_check CHECK (event IN ({events}))")


REGISTRY = """
CREATE TABLE network_sections (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code      text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]+$'),
    name      text NOT NULL,
    network   text NOT NULL REFERENCES networks (code),
    parent_id bigint REFERENCES network_sections (id),
    plant_id  bigint REFERENCES plants (id),
    CHECK (parent_id IS DISTINCT FROM id)
);
COMMENT ON TABLE network_sections IS
  'Sections of the network (a tree): works on a section cut it and every section below it.';
ALTER TABLE substations ADD COLUMN network_section_id bigint REFERENCES network_sections (id);
CREATE INDEX substations_section_idx ON substations (network_section_id);
"""

ORDERS = """
CREATE TABLE work_orders (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind               text NOT NULL CHECK (kind IN ('repair', 'preventive', 'works')),
    priority           text NOT NULL DEFAULT 'normal' CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
    status             text NOT NULL DEFAULT 'to_plan'
                       CHECK (status IN ('to_plan', 'planned', 'in_progress', 'done', 'cancelled')),
    origin             text NOT NULL CHECK (origin IN ('alarm', 'request', 'manual', 'maintenance_plan')),
    title              text NOT NULL CHECK (title <> ''),
    description        text NOT NULL DEFAULT '',
    substation_id      bigint REFERENCES substations (id),
    plant_id           bigint REFERENCES plants (id),
    network_section_id bigint REFERENCES network_sections (id),
    team               text NOT NULL DEFAULT '',
    planned_for        date,
    started_at         timestamptz,
    finished_at        timestamptz,
    time_spent_min     integer NOT NULL DEFAULT 0 CHECK (time_spent_min >= 0),
    plan_year          integer,
    created_by         text NOT NULL,
    created_at         timestamptz NOT NULL,
    proof_status       text CHECK (proof_status IN ('pending', 'verified', 'no_effect', 'insufficient')),
    proof              jsonb,
    proof_at           timestamptz,
    CHECK (num_nonnulls(substation_id, plant_id, network_section_id) = 1),
    CHECK (status <> 'done' OR finished_at IS NOT NULL)
);
CREATE INDEX work_orders_open_idx ON work_orders (status, created_at DESC);
CREATE INDEX work_orders_substation_idx ON work_orders (substation_id);
CREATE UNIQUE INDEX work_orders_one_visit_a_year ON work_orders (substation_id, plan_year)
    WHERE origin = 'maintenance_plan' AND status <> 'cancelled';
CREATE TABLE work_order_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work_order_id bigint NOT NULL REFERENCES work_orders (id),
    at            timestamptz NOT NULL,
    event         text NOT NULL CHECK (event IN ('created', 'status', 'note', 'time', 'part', 'alarm', 'request',
                                                 'proof')),
    by_whom       text NOT NULL,
    comment       text NOT NULL DEFAULT ''
);
CREATE INDEX work_order_events_order_idx ON work_order_events (work_order_id, at);
CREATE TABLE work_order_alarms (
    work_order_id bigint NOT NULL REFERENCES work_orders (id),
    alarm_id      bigint NOT NULL UNIQUE REFERENCES alarms (id),
    PRIMARY KEY (work_order_id, alarm_id)
);
CREATE TABLE work_order_parts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work_order_id bigint NOT NULL REFERENCES work_orders (id),
    designation   text NOT NULL CHECK (designation <> ''),
    quantity      numeric(10, 2) NOT NULL CHECK (quantity > 0),
    unit          text NOT NULL DEFAULT 'u',
    added_by      text NOT NULL,
    added_at      timestamptz NOT NULL
);
CREATE TABLE maintenance_plans (
    substation_id bigint PRIMARY KEY REFERENCES substations (id),
    month         integer NOT NULL CHECK (month BETWEEN 1 AND 12),
    team          text NOT NULL DEFAULT '',
    active        boolean NOT NULL DEFAULT true
);
CREATE TABLE service_requests (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id     bigint NOT NULL REFERENCES subscribers (id),
    delivery_point_id bigint NOT NULL REFERENCES delivery_points (id),
    kind              text NOT NULL CHECK (kind IN ('no_heating', 'no_hot_water', 'noise', 'other')),
    message           text NOT NULL DEFAULT '',
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'answered')),
    work_order_id     bigint REFERENCES work_orders (id),
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL,
    answer            text,
    answered_by       text,
    answered_at       timestamptz
);
CREATE INDEX service_requests_subscriber_idx ON service_requests (subscriber_id, created_at DESC);
CREATE INDEX service_requests_open_idx ON service_requests (status) WHERE status <> 'answered';
"""

ON_CALL = """
CREATE TABLE on_call_people (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name   text NOT NULL UNIQUE CHECK (name <> ''),
    email  text,
    phone  text,
    active boolean NOT NULL DEFAULT true,
    CHECK (email IS NOT NULL OR phone IS NOT NULL)
);
CREATE TABLE on_call_shifts (
    week_start date NOT NULL CHECK (extract(isodow FROM week_start) = 1),
    rank       integer NOT NULL CHECK (rank BETWEEN 1 AND 5),
    person_id  bigint NOT NULL REFERENCES on_call_people (id),
    PRIMARY KEY (week_start, rank)
);
COMMENT ON TABLE on_call_shifts IS
  'The rota: who is on call the week starting that Monday (00:00 Europe/Paris); rank 1 is paged first.';
CREATE TABLE alarm_pages (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alarm_id  bigint NOT NULL REFERENCES alarms (id),
    person_id bigint REFERENCES on_call_people (id),
    rank      integer NOT NULL,
    at        timestamptz NOT NULL,
    delivered boolean NOT NULL,
    channels  text NOT NULL DEFAULT '',
    UNIQUE (alarm_id, rank)
);
"""

OUTAGES = """
CREATE TABLE outages (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('planned', 'unplanned')),
    title               text NOT NULL CHECK (title <> ''),
    reason              text NOT NULL DEFAULT '',
    substation_id       bigint REFERENCES substations (id),
    plant_id            bigint REFERENCES plants (id),
    network_section_id  bigint REFERENCES network_sections (id),
    start_at            timestamptz NOT NULL,
    end_at              timestamptz,
    estimated_return_at timestamptz,
    notice_days         integer NOT NULL DEFAULT 0 CHECK (notice_days BETWEEN 0 AND 60),
    alarm_id            bigint REFERENCES alarms (id),
    work_order_id       bigint REFERENCES work_orders (id),
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL,
    ended_at            timestamptz,
    cancelled_at        timestamptz,
    cancelled_by        text,
    CHECK (num_nonnulls(substation_id, plant_id, network_section_id) = 1),
    CHECK (kind <> 'planned' OR end_at IS NOT NULL),
    CHECK (end_at IS NULL OR end_at > start_at),
    CHECK (estimated_return_at IS NULL OR estimated_return_at > start_at)
);
CREATE TABLE outage_substations (
    outage_id     bigint NOT NULL REFERENCES outages (id),
    substation_id bigint NOT NULL REFERENCES substations (id),
    PRIMARY KEY (outage_id, substation_id)
);
CREATE TABLE outage_notices (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outage_id     bigint NOT NULL REFERENCES outages (id),
    subscriber_id bigint NOT NULL REFERENCES subscribers (id),
    at            timestamptz NOT NULL,
    emailed_to    text,
    error         text,
    UNIQUE (outage_id, subscriber_id)
);
CREATE INDEX outage_notices_subscriber_idx ON outage_notices (subscriber_id);
COMMENT ON TABLE outage_notices IS
  'The notice of an outage to each affected subscriber, once: e-mailed (emailed_to) or to be posted.';
"""

"""rooms are shared resources: room places and the PostgreSQL room guard

Every occupying booking in a room holds one of the room's places (room_seat).
On PostgreSQL an exclusion constraint keeps two overlapping bookings off one
room place, and a trigger keeps room_seat below the room's capacity, so the
database refuses a double-booked room even if the services had a bug. Existing
bookings get their seats (demo bookings were written without them).

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

OCCUPYING = "('held', 'pending', 'confirmed')"


def upgrade():
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('room_seat', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(batch_op.f('ck_bookings_room_seat_non_negative'),
                                         'room_seat IS NULL OR room_seat >= 0')
    _backfill_seats()
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_room_seat_overlap "
            "EXCLUDE USING gist (room_id WITH =, room_seat WITH =, tstzrange(block_start_at, block_end_at, '[)') WITH &&) "
            f"WHERE (status IN {OCCUPYING} AND room_id IS NOT NULL)"
        )
        op.execute(f"""
            CREATE FUNCTION bookings_room_capacity() RETURNS trigger AS $$
            BEGIN
                IF NEW.room_id IS NOT NULL AND NEW.status IN {OCCUPYING} AND (
                    NEW.room_seat IS NULL
                    OR NEW.room_seat >= (SELECT capacity FROM rooms WHERE id = NEW.room_id)) THEN
                    RAISE EXCEPTION 'bookings_room_capacity: room % has no place %', NEW.room_id, NEW.room_seat
                        USING ERRCODE = 'check_violation';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql
        """)
        op.execute(
            "CREATE TRIGGER bookings_room_capacity BEFORE INSERT OR UPDATE OF room_id, room_seat, "
            "block_start_at, block_end_at ON bookings FOR EACH ROW EXECUTE FUNCTION bookings_room_capacity()"
        )


def _backfill_seats():
    """Give every occupying booking without a seat the lowest free one, provider and room."""
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        f"SELECT id, provider_id, room_id, block_start_at, block_end_at, seat, room_seat FROM bookings "
        f"WHERE status IN {OCCUPYING} ORDER BY block_start_at, id")).all()
    taken = []  # (key, seat, start, end)
    updates = []
    for row in rows:
        for column, owner, current in (("seat", ("p", row.provider_id), row.seat),
                                       ("room_seat", ("r", row.room_id), row.room_seat)):
            if owner[1] is None:
                continue
            if current is None:
                busy = {s for key, s, start, end in taken
                        if key == owner and start < row.block_end_at and end > row.block_start_at}
                current = 0
                while current in busy:
                    current += 1
                updates.append((column, current, row.id))
            taken.append((owner, current, row.block_start_at, row.block_end_at))
    for column, value, booking_id in updates:
        bind.execute(sa.text(f"UPDATE bookings SET {column} = :value WHERE id = :id"),
                     {"value": value, "id": booking_id})


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER bookings_room_capacity ON bookings')
        op.execute('DROP FUNCTION bookings_room_capacity()')
        op.execute('ALTER TABLE bookings DROP CONSTRAINT ex_bookings_room_seat_overlap')
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_bookings_room_seat_non_negative'), type_='check')
        batch_op.drop_column('room_seat')

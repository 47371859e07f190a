"""input versions: a value the database changes with every non-booking input of availability

Revision ID: 0012
Revises: 0011

Holds keep an organization's hours, exceptions, time off, busy times, locations, rooms and
types across requests while its version is unchanged (app/availability/static_cache.py). So
that no writer can forget it (ORM, bulk SQL, a psql session), triggers set a new random
version in the same transaction as the change, at once (not deferred to commit: a
transaction, or a test's outer one, reads its own new version). The version row is locked
from a transaction's first such change to its commit, so writers of one organization's setup
queue there; holds only read it.
Note for later migrations: a SQLite batch_alter_table recreates its table and drops these
triggers; such a migration must create them again (see `sqlite_triggers`).
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# Each table, and how a row names its organization: directly, or through its provider.
WATCHED = {
    'availability_rules': 'org', 'availability_breaks': 'org', 'availability_exceptions': 'org',
    'time_off': 'org', 'external_busy_times': 'org', 'locations': 'org', 'rooms': 'org',
    'appointment_types': 'org', 'providers': 'org',
    'appointment_type_providers': 'provider', 'provider_locations': 'provider',
}


def _sqlite_org(row: str, how: str) -> str:
    if how == 'org':
        return f'{row}.organization_id'
    return f'(SELECT organization_id FROM providers WHERE id = {row}.provider_id)'


def _sqlite_bump(org: str) -> str:
    return (f'INSERT INTO input_versions (organization_id, version) SELECT {org}, random() '
            f'WHERE {org} IS NOT NULL ON CONFLICT (organization_id) DO UPDATE SET version = excluded.version;')


def sqlite_triggers(table: str) -> list[str]:
    how = WATCHED[table]
    return [
        f'CREATE TRIGGER input_version_{table}_insert AFTER INSERT ON {table} BEGIN '
        f'{_sqlite_bump(_sqlite_org("NEW", how))} END',
        f'CREATE TRIGGER input_version_{table}_update AFTER UPDATE ON {table} BEGIN '
        f'{_sqlite_bump(_sqlite_org("NEW", how))} {_sqlite_bump(_sqlite_org("OLD", how))} END',
        f'CREATE TRIGGER input_version_{table}_delete AFTER DELETE ON {table} BEGIN '
        f'{_sqlite_bump(_sqlite_org("OLD", how))} END',
    ]


PG_FUNCTION = """
CREATE FUNCTION bump_input_version() RETURNS trigger AS $$
DECLARE
    orgs uuid[];
BEGIN
    IF TG_ARGV[0] = 'provider' THEN
        SELECT array_agg(organization_id) INTO orgs FROM providers WHERE id IN (
            CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.provider_id END,
            CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.provider_id END);
    ELSIF TG_OP = 'INSERT' THEN
        orgs := ARRAY[NEW.organization_id];
    ELSIF TG_OP = 'DELETE' THEN
        orgs := ARRAY[OLD.organization_id];
    ELSE
        orgs := ARRAY[OLD.organization_id, NEW.organization_id];
    END IF;
    INSERT INTO input_versions (organization_id, version)
        SELECT org, floor(random() * 9.0e18 - 4.5e18)::bigint
        FROM (SELECT DISTINCT org FROM unnest(orgs) AS org WHERE org IS NOT NULL) AS changed
        ON CONFLICT (organization_id) DO UPDATE SET version = excluded.version;
    RETURN NULL;
END $$ LANGUAGE plpgsql
"""


def upgrade():
    op.create_table('input_versions',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_input_versions'))
    )
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute('INSERT INTO input_versions SELECT id, floor(random() * 9.0e18 - 4.5e18)::bigint FROM organizations')
        op.execute(PG_FUNCTION)
        for table, how in WATCHED.items():
            op.execute(f'CREATE TRIGGER input_version AFTER INSERT OR UPDATE OR DELETE ON {table} '
                       f'FOR EACH ROW EXECUTE FUNCTION bump_input_version({how!r})')
    else:
        op.execute('INSERT INTO input_versions SELECT id, random() FROM organizations')
        for table in WATCHED:
            for statement in sqlite_triggers(table):
                op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for table in WATCHED:
            op.execute(f'DROP TRIGGER input_version ON {table}')
        op.execute('DROP FUNCTION bump_input_version()')
    else:
        for table in WATCHED:
            for op_name in ('insert', 'update', 'delete'):
                op.execute(f'DROP TRIGGER input_version_{table}_{op_name}')
    op.drop_table('input_versions')

"""The schema as first released (session 1): layers, catalogues, alerts, cases, teams,
inspections and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

import geo.store.geometry

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def _gist_index(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(f"ix_{table}_geom_gist", table, ["geom"], postgresql_using="gist")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('crs', sa.Text(), nullable=False),
    sa.Column('matter_code', sa.String(length=40), nullable=True),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('reported_at', sa.DateTime(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'external_id', name='uq_alert_source_id')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('entity', sa.String(length=20), nullable=False),
    sa.Column('entity_id', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('from_state', sa.String(length=20), nullable=True),
    sa.Column('to_state', sa.String(length=20), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    op.create_index(op.f('ix_audit_log_entity_id'), 'audit_log', ['entity_id'], unique=False)
    op.create_table('bodies',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('township_code', sa.String(length=12), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('checklist_items',
    sa.Column('item_code', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('item', sa.String(length=200), nullable=False),
    sa.Column('department', sa.String(length=40), nullable=False),
    sa.Column('matter_code', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('item_code')
    )
    op.create_index(op.f('ix_checklist_items_kind'), 'checklist_items', ['kind'], unique=False)
    op.create_table('inspections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('departments', sa.Text(), nullable=False),
    sa.Column('inspector', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_inspections_day'), 'inspections', ['day'], unique=False)
    op.create_index(op.f('ix_inspections_site_id'), 'inspections', ['site_id'], unique=False)
    op.create_table('meta',
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('roads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('road_class', sa.String(length=40), nullable=False),
    sa.Column('speed_kmh', sa.Float(), nullable=True),
    sa.Column('geom', geo.store.geometry.WKBGeometry(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    _gist_index('roads')
    op.create_table('sites',
    sa.Column('site_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('risk', sa.String(length=10), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=True),
    sa.Column('township_code', sa.String(length=12), nullable=True),
    sa.Column('geom', geo.store.geometry.WKBGeometry(), nullable=False),
    sa.PrimaryKeyConstraint('site_id')
    )
    op.create_index(op.f('ix_sites_credit_code'), 'sites', ['credit_code'], unique=False)
    _gist_index('sites')
    op.create_index(op.f('ix_sites_township_code'), 'sites', ['township_code'], unique=False)
    op.create_table('townships',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('geom', geo.store.geometry.WKBGeometry(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    _gist_index('townships')
    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('matter_code', sa.String(length=40), nullable=True),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('township_code', sa.String(length=12), nullable=True),
    sa.Column('township_name', sa.String(length=100), nullable=True),
    sa.Column('unit_code', sa.String(length=40), nullable=True),
    sa.Column('site_id', sa.String(length=40), nullable=True),
    sa.Column('body_code', sa.String(length=40), nullable=True),
    sa.Column('flags', sa.String(length=100), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=False),
    sa.Column('deadline_at', sa.DateTime(), nullable=True),
    sa.Column('routed_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('alert_id')
    )
    op.create_index(op.f('ix_cases_body_code'), 'cases', ['body_code'], unique=False)
    op.create_index(op.f('ix_cases_opened_at'), 'cases', ['opened_at'], unique=False)
    op.create_index(op.f('ix_cases_status'), 'cases', ['status'], unique=False)
    op.create_index(op.f('ix_cases_township_code'), 'cases', ['township_code'], unique=False)
    op.create_table('findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inspection_id', sa.Integer(), nullable=False),
    sa.Column('item_code', sa.String(length=40), nullable=False),
    sa.Column('result', sa.String(length=10), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('photo', sa.String(length=300), nullable=True),
    sa.Column('requirement', sa.Text(), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['inspection_id'], ['inspections.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_findings_inspection_id'), 'findings', ['inspection_id'], unique=False)
    op.create_table('matters',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('domain', sa.String(length=40), nullable=False),
    sa.Column('district_body', sa.String(length=40), nullable=False),
    sa.Column('deadline_days_low', sa.Float(), nullable=False),
    sa.Column('deadline_days_medium', sa.Float(), nullable=False),
    sa.Column('deadline_days_high', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['district_body'], ['bodies.code'], ),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('teams',
    sa.Column('team_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('body_code', sa.String(length=40), nullable=False),
    sa.Column('skills', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('geom', geo.store.geometry.WKBGeometry('POINT'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['body_code'], ['bodies.code'], ),
    sa.PrimaryKeyConstraint('team_id')
    )
    op.create_index(op.f('ix_teams_body_code'), 'teams', ['body_code'], unique=False)
    _gist_index('teams')
    op.create_table('units',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('township_code', sa.String(length=12), nullable=False),
    sa.Column('geom', geo.store.geometry.WKBGeometry(), nullable=False),
    sa.ForeignKeyConstraint(['township_code'], ['townships.code'], ),
    sa.PrimaryKeyConstraint('code')
    )
    _gist_index('units')
    op.create_index(op.f('ix_units_township_code'), 'units', ['township_code'], unique=False)
    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(), nullable=False),
    sa.Column('en_route_at', sa.DateTime(), nullable=True),
    sa.Column('on_scene_at', sa.DateTime(), nullable=True),
    sa.Column('cleared_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['team_id'], ['teams.team_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_assignments_case_id'), 'assignments', ['case_id'], unique=False)
    op.create_index(op.f('ix_assignments_team_id'), 'assignments', ['team_id'], unique=False)
    op.create_table('empowerment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('township_code', sa.String(length=12), nullable=False),
    sa.Column('matter_code', sa.String(length=40), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('effective_to', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['matter_code'], ['matters.code'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_empowerment_township_code'), 'empowerment', ['township_code'], unique=False)
    op.create_table('reinspections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('fixed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_reinspections_finding_id'), 'reinspections', ['finding_id'], unique=False)
    op.create_table('team_positions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.team_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_team_positions_at'), 'team_positions', ['at'], unique=False)
    op.create_index(op.f('ix_team_positions_team_id'), 'team_positions', ['team_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_team_positions_team_id'), table_name='team_positions')
    op.drop_index(op.f('ix_team_positions_at'), table_name='team_positions')
    op.drop_table('team_positions')
    op.drop_index(op.f('ix_reinspections_finding_id'), table_name='reinspections')
    op.drop_table('reinspections')
    op.drop_index(op.f('ix_empowerment_township_code'), table_name='empowerment')
    op.drop_table('empowerment')
    op.drop_index(op.f('ix_assignments_team_id'), table_name='assignments')
    op.drop_index(op.f('ix_assignments_case_id'), table_name='assignments')
    op.drop_table('assignments')
    op.drop_index(op.f('ix_units_township_code'), table_name='units')
    op.drop_table('units')
    op.drop_index(op.f('ix_teams_body_code'), table_name='teams')
    op.drop_table('teams')
    op.drop_table('matters')
    op.drop_index(op.f('ix_findings_inspection_id'), table_name='findings')
    op.drop_table('findings')
    op.drop_index(op.f('ix_cases_township_code'), table_name='cases')
    op.drop_index(op.f('ix_cases_status'), table_name='cases')
    op.drop_index(op.f('ix_cases_opened_at'), table_name='cases')
    op.drop_index(op.f('ix_cases_body_code'), table_name='cases')
    op.drop_table('cases')
    op.drop_table('townships')
    op.drop_index(op.f('ix_sites_township_code'), table_name='sites')
    op.drop_index(op.f('ix_sites_credit_code'), table_name='sites')
    op.drop_table('sites')
    op.drop_table('roads')
    op.drop_table('meta')
    op.drop_index(op.f('ix_inspections_site_id'), table_name='inspections')
    op.drop_index(op.f('ix_inspections_day'), table_name='inspections')
    op.drop_table('inspections')
    op.drop_index(op.f('ix_checklist_items_kind'), table_name='checklist_items')
    op.drop_table('checklist_items')
    op.drop_table('bodies')
    op.drop_index(op.f('ix_audit_log_entity_id'), table_name='audit_log')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_table('alerts')

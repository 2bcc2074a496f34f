"""Index for the per-request check that a login was ended by logging out

Revision ID: 5c2d8f4a1b93
Revises: 017b8e390548
Create Date: 2026-12-03 07:55:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '5c2d8f4a1b93'
down_revision = '017b8e390548'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_user_action_target',
                              ['user_id', 'action', 'target_id'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_user_action_target')

"""Visit review version (stale-decision guard) and one-time form submission tokens

Revision ID: 017b8e390548
Revises: eeb8f1f62986
Create Date: 2026-12-03 05:46:50.494264

"""
import sqlalchemy as sa
from alembic import op

import fieldwork.dbtypes

# revision identifiers, used by Alembic.
revision = '017b8e390548'
down_revision = 'eeb8f1f62986'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'form_submissions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('path', sa.String(length=300), nullable=False),
        sa.Column('result_url', sa.String(length=500), nullable=True),
        sa.Column('created_at', fieldwork.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_form_submissions_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_form_submissions')),
        sa.UniqueConstraint('user_id', 'token', name=op.f('uq_form_submissions_user_id')),
    )
    with op.batch_alter_table('form_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_submissions_created_at'), ['created_at'],
                              unique=False)

    # Existing visits start at version 0: pages rendered before the upgrade carry no
    # version and are checked against the row as loaded.
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_version', sa.Integer(),
                                      server_default=sa.text('0'), nullable=False))


def downgrade():
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_column('review_version')

    with op.batch_alter_table('form_submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_submissions_created_at'))

    op.drop_table('form_submissions')

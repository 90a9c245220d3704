"""runs.view_json (the run object kept as JSON for fast listings) and runs.namelist_data (the rendered
namelist as JSON, so a submission does not re-parse namelist.input)

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("view_json", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("namelist_data", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("namelist_data")
        batch_op.drop_column("view_json")

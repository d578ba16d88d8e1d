"""content: articles and resources (items and their revisions) with full-text and trigram
search, user posts (questions, comments, reviews) and the moderation audit.

``items.search`` is a generated ``tsvector`` in the item's own configuration (``russian`` or
``english``), title weighted A, summary B, body C, with a GIN index; ``items.title`` has a
trigram GIN index for the typo-tolerant fallback (``pg_trgm``, shipped with PostgreSQL's
contrib). A post's free text, an anonymous author's contact, the answer and the moderators'
reasons and the audited text are Fernet ciphertext.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from servicekit.security.fields import EncryptedString

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, nullable: bool = False) -> "sa.Column[datetime]":
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


_CONFIG = "(CASE language WHEN 'ru' THEN 'russian'::regconfig ELSE 'english'::regconfig END)"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "items",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("slug", sa.String(120), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("pending_revision", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(), nullable=True),
        sa.Column("summary", sa.String(), nullable=True),
        sa.Column("body", sa.String(), nullable=True),
        sa.Column("body_html", sa.String(), nullable=True),
        sa.Column("body_text", sa.String(), nullable=True),
        sa.Column("topics", JSONB(), nullable=False),
        sa.Column("cover_url", sa.String(), nullable=True),
        sa.Column("media_url", sa.String(), nullable=True),
        sa.Column("reading_minutes", sa.Integer(), nullable=True),
        _utc("created_at"),
        _utc("updated_at"),
        _utc("first_published_at", nullable=True),
        _utc("published_at", nullable=True),
        sa.Column("published_by", sa.Uuid(), nullable=True),
        _utc("archived_at", nullable=True),
        sa.Column("archived_by", sa.Uuid(), nullable=True),
        sa.Column(
            "search",
            sa.dialects.postgresql.TSVECTOR(),
            sa.Computed(
                f"setweight(to_tsvector({_CONFIG}, coalesce(title, '')), 'A') || "
                f"setweight(to_tsvector({_CONFIG}, coalesce(summary, '')), 'B') || "
                f"setweight(to_tsvector({_CONFIG}, coalesce(body_text, '')), 'C')",
                persisted=True,
            ),
        ),
        sa.UniqueConstraint("language", "slug", name="items_slug"),
    )
    op.create_index("ix_items_author_id", "items", ["author_id"])
    op.create_index("ix_items_search", "items", ["search"], postgresql_using="gin")
    op.execute("CREATE INDEX ix_items_title_trgm ON items USING gin (title gin_trgm_ops)")
    # The public list, newest first: only published rows.
    op.execute(
        "CREATE INDEX ix_items_published ON items (published_at DESC, id DESC) "
        "WHERE status = 'published'"
    )
    op.execute("CREATE INDEX ix_items_topics ON items USING gin (topics jsonb_path_ops)")
    op.create_table(
        "library_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO library_state (id, version) VALUES (1, 0)")
    op.create_table(
        "item_revisions",
        sa.Column("item_id", sa.Uuid(), sa.ForeignKey("items.id"), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("summary", sa.String(), nullable=True),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("topics", JSONB(), nullable=False),
        sa.Column("cover_url", sa.String(), nullable=True),
        sa.Column("media_url", sa.String(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        _utc("created_at"),
        _utc("updated_at"),
        sa.Column("submitted_by", sa.Uuid(), nullable=True),
        _utc("submitted_at", nullable=True),
        sa.Column("reviewed_by", sa.Uuid(), nullable=True),
        _utc("reviewed_at", nullable=True),
        sa.Column("review_note", sa.String(), nullable=True),
    )
    op.create_table(
        "posts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("contact", EncryptedString(), nullable=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("specialist_id", sa.Uuid(), nullable=True),
        sa.Column("item_id", sa.Uuid(), nullable=True),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("body", EncryptedString(), nullable=False),
        sa.Column("flags", JSONB(), nullable=False),
        sa.Column("source_index", sa.String(64), nullable=True),
        sa.Column("text_index", sa.String(64), nullable=False),
        _utc("created_at"),
        _utc("updated_at"),
        _utc("decided_at", nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("reason", EncryptedString(), nullable=True),
        sa.Column("answer", EncryptedString(), nullable=True),
        sa.Column("answered_by", sa.Uuid(), nullable=True),
        _utc("answered_at", nullable=True),
    )
    for column in ("author_id", "specialist_id", "item_id", "source_index", "text_index"):
        op.create_index(f"ix_posts_{column}", "posts", [column])
    op.create_index("ix_posts_status_created_at", "posts", ["status", "created_at", "id"])
    # One review per appointment (a withdrawn one does not count).
    op.execute(
        "CREATE UNIQUE INDEX posts_one_review_per_appointment ON posts (appointment_id) "
        "WHERE kind = 'review' AND status <> 'withdrawn'"
    )
    op.create_table(
        "moderation_decisions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("post_id", sa.Uuid(), sa.ForeignKey("posts.id"), nullable=False),
        sa.Column("moderator_id", sa.Uuid(), nullable=True),
        sa.Column("decision", sa.String(24), nullable=False),
        sa.Column("reason", EncryptedString(), nullable=True),
        sa.Column("flags", JSONB(), nullable=False),
        sa.Column("text", EncryptedString(), nullable=False),
        _utc("decided_at"),
    )
    op.create_index(
        "ix_moderation_decisions_post_id", "moderation_decisions", ["post_id", "decided_at"]
    )


def downgrade() -> None:
    op.drop_table("moderation_decisions")
    op.drop_table("posts")
    op.drop_table("item_revisions")
    op.drop_table("library_state")
    op.drop_table("items")

"""content's settings (environment variables; see servicekit.settings for the common ones)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import NoDecode
from servicekit.settings import DEV_CAPABILITY_KEY, ServiceSettings


class Bilingual(BaseModel):
    """A text in Russian and English."""

    model_config = ConfigDict(frozen=True)

    ru: str = Field(min_length=1)
    en: str = Field(min_length=1)


class CrisisLine(BaseModel):
    """A help line shown to a person whose answers raise a crisis flag."""

    model_config = ConfigDict(frozen=True)

    name: Bilingual
    phone: str = Field(min_length=1)
    hours: Bilingual | None = None


class PracticeContact(BaseModel):
    """How to reach the practice itself (shown with the help lines)."""

    model_config = ConfigDict(frozen=True)

    name: Bilingual
    phone: str | None = None
    email: str | None = None


_ROUND_THE_CLOCK = Bilingual(ru="круглосуточно", en="24/7")

#: Russia's published lines; a practice elsewhere sets CRISIS_LINES (a JSON list).
DEFAULT_CRISIS_LINES = [
    CrisisLine(
        name=Bilingual(ru="Экстренные службы", en="Emergency services"),
        phone="112",
        hours=_ROUND_THE_CLOCK,
    ),
    CrisisLine(
        name=Bilingual(
            ru="Телефон экстренной психологической помощи МЧС России",
            en="EMERCOM of Russia psychological emergency line",
        ),
        phone="+7 495 989-50-50",
        hours=_ROUND_THE_CLOCK,
    ),
    CrisisLine(
        name=Bilingual(
            ru="Телефон доверия для детей, подростков и их родителей (бесплатно)",
            en="Helpline for children, teenagers and their parents (free)",
        ),
        phone="8-800-2000-122",
        hours=_ROUND_THE_CLOCK,
    ),
]


class ContentSettings(ServiceSettings):
    """Settings of the content service."""

    service_name: str = "content"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/praktika_content"

    # Seals the link to this service's part of a data export (only cabinet opens it): the same
    # keys as cabinet's; the development key is refused in production.
    capability_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [DEV_CAPABILITY_KEY]
    )
    data_export_link_minutes: int = Field(
        default=24 * 60, ge=1, description="How long the signed link to an export part works"
    )

    # What a person sees at once when their answers raise a crisis flag (the practice's own).
    crisis_message: Bilingual = Bilingual(
        ru="Похоже, сейчас Вам очень тяжело. Вы не одни: если есть мысли причинить себе вред, "
        "пожалуйста, прямо сейчас позвоните по одному из этих номеров.",
        en="It sounds like things are very hard right now. You are not alone: if you are "
        "thinking of hurting yourself, please call one of these numbers now.",
    )
    crisis_lines: list[CrisisLine] = Field(default_factory=lambda: list(DEFAULT_CRISIS_LINES))
    practice_contact: PracticeContact | None = Field(
        default=None, description="The practice's own contact, shown with the help lines"
    )
    assignment_due_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Days until an assignment is due when the specialist does not say",
    )

    # -- user posts and moderation --------------------------------------------------------
    stop_words_reject: list[str] = Field(
        default_factory=lambda: ["казино", "виагр", "casino", "viagra"],
        description="Stems whose words reject a post outright (a stem covers its word forms)",
    )
    stop_words_flag: list[str] = Field(
        default_factory=lambda: ["дура", "идиот", "мошенни", "развод", "idiot", "stupid", "scam"],
        description="Stems whose words flag a post for the moderator",
    )
    post_max_links: int = Field(default=2, ge=0, description="More links reject a post")
    posts_per_author_hour: int = Field(
        default=10, ge=1, description="Posts one signed-in author may send per hour"
    )
    posts_per_address_hour: int = Field(
        default=20, ge=1, description="Posts one source address may send per hour"
    )
    run_contacts_per_address_hour: int = Field(
        default=10,
        ge=1,
        description="Contacts left on anonymous runs from one source address per hour",
    )
    duplicate_window_hours: int = Field(
        default=24, ge=1, description="The same text again within this window is refused"
    )
    library_cache_pages: int = Field(
        default=512,  # at most 50 items of a few kB each: some tens of MB at worst
        ge=0,
        description="Pages of the public library a process remembers until it changes (0: none)",
    )

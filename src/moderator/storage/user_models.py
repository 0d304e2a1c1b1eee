"""The moderator accounts table (issue #5: the review pages). Kept out of ``models.py``; same ``Base``.

``moderator_users``: one row per person who signs in to ``/review``. The password is stored only as an
argon2id hash (``argon2-cffi``'s PasswordHasher encoding, parameters included); ``disabled_at`` set means the
account can no longer sign in and its open sessions stop working on their next request.

``moderator_sessions``: one row per signed-in browser. The session cookie holds a random token; the row holds
only its SHA-256 digest, the account and when the session expires. Signing out deletes the row, so a copy of
the cookie taken earlier opens nothing; changing the password or disabling the account deletes all the
account's rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from moderator.storage.models import Base


class ModeratorUser(Base):
    __tablename__ = "moderator_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # review | admin
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]



class ReviewSession(Base):
    __tablename__ = "moderator_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # hex SHA-256 of the token in the cookie
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("moderator_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


__all__ = ["ModeratorUser", "ReviewSession"]

"""A new evaluation's rows on PostgreSQL: its image (with its owner), itself and its judges' message go in one
statement (one round trip), and are the rows the separate statements wrote: the image upserted, the blob stored."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, update
from sqlmodel import Session, col, select

from sentinel.evaluation.service import EvaluationService
from sentinel.models import Evaluation, ImageOwner, OutboxMessage, StoredImage, utcnow
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import own_postgres_database, png_bytes


def test_an_evaluation_and_its_image_owner_and_message_are_one_statement_on_postgresql(tmp_path) -> None:
    with own_postgres_database() as url:
        services = build_services(Settings(data_dir=tmp_path / "data", database_url=url))
        service = EvaluationService(services)
        image = png_bytes(240, 240)
        submission = service.validate("text-to-image", {"width": 240}, {"image": image})
        statements: list[str] = []
        event.listen(services.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

        evaluation = service.submit(submission, "key_a")

        assert len(statements) == 1 and statements[0].startswith("WITH"), statements
        with Session(services.engine) as session:
            stored = session.exec(select(Evaluation).where(Evaluation.id == evaluation.id)).one()
            assert (stored.task, stored.params, stored.image_id) == (
                "text-to-image",
                {"width": 240},
                evaluation.image_id,
            )
            assert stored.panel == evaluation.panel and stored.key_id == "key_a"
            row = session.get(StoredImage, evaluation.image_id)
            assert row is not None and (row.mime, row.width, row.height) == ("image/png", 240, 240)
            owners = session.exec(select(ImageOwner.key_id).where(ImageOwner.image_id == evaluation.image_id)).all()
            assert owners == ["key_a"]
            (message,) = session.exec(select(OutboxMessage)).all()
            assert (message.actor, message.args[0], message.sent_at) == ("judge_panel", evaluation.id, None)
            assert sorted(message.args[1]) == sorted(evaluation.panel)
        assert services.images.read(evaluation.image_id) == image

        # The same image again, after `storage gc` purged its bytes: its row is stored afresh (as
        # ImageService.store does it), its owner is not added twice, and its blob is written again.
        long_ago = utcnow() - timedelta(days=30)
        with Session(services.engine) as session:
            session.execute(
                update(StoredImage)
                .where(col(StoredImage.id) == evaluation.image_id)
                .values(stored_at=long_ago, purged_at=long_ago)
            )
            session.commit()
        services.images.blobs.delete(evaluation.image_id)
        again = service.submit(service.validate("text-to-image", {}, {"image": image}), "key_a")
        with Session(services.engine) as session:
            row = session.get(StoredImage, evaluation.image_id)
            assert row is not None and row.purged_at is None and row.stored_at > long_ago
            owners = session.exec(select(ImageOwner.key_id).where(ImageOwner.image_id == evaluation.image_id)).all()
            assert owners == ["key_a"]
            assert len(session.exec(select(OutboxMessage)).all()) == 2
        assert again.image_id == evaluation.image_id
        assert services.images.read(evaluation.image_id) == image
        services.engine.dispose()

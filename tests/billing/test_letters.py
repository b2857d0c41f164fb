"""Letters to subscribers: the reminder of an overdue invoice (PDF, e-mailed with its letter when the
subscriber has an address, to be posted otherwise) and the account statement (relevé de compte) whose
lines and balance are those of the account."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from billing import fr
from billing.correspondence import Mail, reminder_pdf, send_reminders, statement_pdf
from billing.errors import StateError
from billing.ledger import account_entries
from tests.billing.support import ACTOR
from tests.billing.test_documents import pdf_text


def money(value: Decimal) -> str:
    return fr.eur(value).replace("\u202f", " ").replace("\xa0", " ")


def test_reminders_emailed_or_posted(issued: psycopg.Connection, tmp_path: Path) -> None:
    due_date = issued.execute("SELECT due_date FROM invoices WHERE number = 'FAC-2026-000002'").fetchone()[0]
    issued.execute("UPDATE subscribers SET email = 'compta@oph-a.example' WHERE code = 'OPH-A'")
    issued.execute("UPDATE subscribers SET email = NULL WHERE code = 'OPH-B'")
    day20 = due_date + timedelta(days=20)
    with pytest.raises(StateError, match="FAC-2026-000001"):  # not late yet on its due date
        reminder_pdf(issued, "FAC-2026-000001", due_date)
    sent: list[Mail] = []
    out = send_reminders(issued, ["FAC-2026-000002", "FAC-2026-000003"], actor=ACTOR, today=day20,
                         mailer=sent.append)
    assert out == {"emailed": ["FAC-2026-000002"], "to_post": ["FAC-2026-000003"], "failed": [], "to_accountant": []}
    assert [m.to for m in sent] == ["compta@oph-a.example"]
    assert "FAC-2026-000002" in sent[0].subject and sent[0].attachment.startswith(b"%PDF")
    assert issued.execute("SELECT emailed_to FROM reminders r JOIN invoices i ON i.id = r.invoice_id "
                          "WHERE i.number = 'FAC-2026-000002'").fetchone()[0] == "compta@oph-a.example"
    text = pdf_text(sent[0].attachment, tmp_path)
    due = issued.execute("SELECT due FROM invoice_dues WHERE number = 'FAC-2026-000002'").fetchone()[0]
    assert "Rappel" in text and "FAC-2026-000002" in text and money(due) in text
    assert "L.441-10" in text  # a company: interest and the 40 € indemnity are named

    def refusing(mail: Mail) -> None:
        raise OSError("connexion refusée")

    day31 = due_date + timedelta(days=31)
    out = send_reminders(issued, ["FAC-2026-000002"], actor=ACTOR, today=day31, mailer=refusing)
    assert out["failed"] == ["FAC-2026-000002"]  # recorded all the same: the letter is to be posted
    pdf, level = reminder_pdf(issued, "FAC-2026-000002", day31)
    assert level == 2 and "Second rappel" in pdf_text(pdf, tmp_path)


def test_account_statement(issued: psycopg.Connection, tmp_path: Path) -> None:
    subscriber_id = issued.execute("SELECT id FROM subscribers WHERE code = 'ECOLE-JC'").fetchone()[0]
    entries = account_entries(issued, subscriber_id)
    text = pdf_text(statement_pdf(issued, subscriber_id, entries[-1].day), tmp_path)
    assert "Relevé de compte" in text and "ECOLE-JC" in text
    for entry in entries:
        assert (entry.document or "") in text
    assert money(entries[-1].balance) in text
    assert "Avoir" in text  # the credit note on the school's invoice

"""Titres de recettes to the public accountant: a bill run to a PES V2 Aller file valid against the DGFiP's
schema (ordinary titres, a reduction titre for a credit note, a public subscriber with the Chorus Pro
edition, subscribers with a SEPA mandate), numbers per exercice and budget never reused, nothing stored
when a file does not validate, the settings and the debtor's codes checked."""

from __future__ import annotations

import base64
import gzip
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from lxml import etree

from billing.documents.store import read_document
from billing.errors import PesError, StateError, ValidationError
from billing.pes import aller
from billing.pes.retour import Emargement, TitreStatus, build_pes_retour
from billing.pes.schema import schema_errors
from billing.records import save_subscriber
from billing.retours import import_retour, invoice_balance
from billing.titres import emit_titres, read_settings, save_settings, titre_of
from regie_chaleur.cli import main as cli_main
from regie_chaleur.db.database import Database
from regie_chaleur.services.billing import credit
from tests.billing.support import ACTOR

OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)
ON = date(2026, 11, 5)
HELIOS = {"collection": "accountant", "id_post": "094021", "cod_col": "041", "cod_bud": "02", "product_code": "CHAL",
          "nature": "70613"}


def values(root: etree._Element, path: str) -> list[str]:
    return [e.get("V") for e in root.iterfind(path)]


def total(conn: psycopg.Connection, number: str) -> tuple[Decimal, Decimal]:
    row = conn.execute("SELECT total_ht, total_vat FROM invoices WHERE number = %s", (number,)).fetchone()
    assert row is not None
    return row[0], row[1]


def test_a_run_becomes_a_valid_pes_file(issued: psycopg.Connection) -> None:
    save_settings(issued, HELIOS, actor=ACTOR)
    done = emit_titres(issued, actor=ACTOR, on=ON)
    content = issued.execute("SELECT content FROM pes_files WHERE id = %s", (done.file_id,)).fetchone()[0]
    assert schema_errors(bytes(content)) == []
    root = etree.fromstring(bytes(content))
    assert (done.titres, done.bordereaux) == (4, 2)
    head = root.find("EnTetePES")
    assert head is not None
    assert [head.find(t).get("V") for t in ("IdPost", "CodCol", "CodBud")] == ["094021", "041", "02"]
    ordinary, reduction = root.findall("PES_RecetteAller/Bordereau")
    assert values(ordinary, "BlocBordereau/TypBord") == ["01"] and values(reduction, "BlocBordereau/TypBord") == ["02"]
    assert values(ordinary, "BlocBordereau/IdBord") == ["1"] and values(reduction, "BlocBordereau/IdBord") == ["1"]
    assert values(ordinary, "Piece/BlocPiece/IdPce") == ["1", "2", "3"]
    assert values(ordinary, "Piece/BlocPiece/NumeroFacture") == ["FAC-2026-000001", "FAC-2026-000002",
                                                                  "FAC-2026-000003"]
    # amounts: each bordereau's HT and VAT are its invoices' (credit notes are stored positive, as the amount reduced)
    sums = [total(issued, f"FAC-2026-00000{i}") for i in (1, 2, 3)]
    assert values(ordinary, "BlocBordereau/MtBordHt") == [str(sum(s[0] for s in sums))]
    assert values(ordinary, "BlocBordereau/MtBordTVA") == [str(sum(s[1] for s in sums))]
    credit_ht, credit_vat = total(issued, "AVO-2026-000001")
    assert values(reduction, "BlocBordereau/MtBordHt") == [str(credit_ht)] == ["10.00"]
    assert values(reduction, "Piece/LigneDePiece/BlocLignePiece/InfoLignePiece/MtTVA") == [str(credit_vat)]
    # the reduction: TypPce 02 / NatPce 06, attached to the invoice's titre (exercice 2026, n° 1)
    assert values(reduction, "Piece/BlocPiece/TypPce") == ["02"] and values(reduction, "Piece/BlocPiece/NatPce") == [
        "06"]
    assert values(reduction, "Piece/BlocPiece/IdPce") == ["4"]
    attach = reduction.find("Piece/LigneDePiece/BlocLignePiece/RattachPiece")
    assert attach is not None and [attach.find(t).get("V") for t in ("NatPceOrig", "ExerRat", "IdPceOrig")] == [
        "01", "2026", "1"]
    # the public school: Chorus Pro edition, service code, commitment, SIRET, commune / collectivité
    school = ordinary.findall("Piece")[0]
    assert values(school, "BlocPiece/Edition") == ["02"]
    assert values(school, "BlocPiece/CodeService") == ["SERV-CHAUF"]
    assert values(school, "BlocPiece/NumeroEngagement") == ["EJ-2026-0077"]
    tiers = school.find("LigneDePiece/Tiers/InfoTiers")
    assert tiers is not None
    assert [tiers.find(t).get("V") for t in ("NatIdTiers", "CatTiers", "NatJur")] == ["01", "23", "09"]
    assert len(tiers.find("IdTiers").get("V")) == 14
    # its ASAP for Chorus Pro: one FactureIndiv (TypeFact 09) tied to its titre, with the invoice's totals
    asap = root.find("PES_Facture")
    assert asap is not None and values(asap, "TypeFact") == ["09"]
    assert values(asap, "Emetteur/InfoTiers/TypTiers") == ["20"]
    assert values(asap, "FactureIndiv/NumeroFacture") == ["FAC-2026-000001"]  # the others are not public
    assert values(asap, "FactureIndiv/Debiteur/InfoTiers/IdTiers") == [tiers.find("IdTiers").get("V")]
    assert [values(asap, f"FactureIndiv/RefTitre/{t}") for t in ("Exercice", "NumBordereau", "NumTitre")] == [
        ["2026"], ["1"], ["1"]]
    ht, vat = total(issued, "FAC-2026-000001")
    assert values(asap, "FactureIndiv/TotalAPayer/MtTotalHT") == [str(ht)]
    assert values(asap, "FactureIndiv/TotalAPayer/MtTotalTTC") == [str(ht + vat)]
    assert sum(Decimal(v) for v in values(asap, "FactureIndiv/DetailTVA/MtTVA")) == vat
    # the SEPA subscribers: a direct debit by the Trésor of the invoice's amount, first presentation
    for piece, number in zip(ordinary.findall("Piece")[1:], ("FAC-2026-000002", "FAC-2026-000003"), strict=True):
        assert values(piece, "BlocPiece/Edition") == ["01"]
        debit = piece.find("LigneDePiece/BlocLignePiece/InfoPrelevementSEPA")
        assert debit is not None
        ht, vat = total(issued, number)
        assert debit.find("NatPrel").get("V") == "01" and debit.find("SequencePres").get("V") == "02"
        assert debit.find("MtPrel").get("V") == str(ht + vat)
        assert debit.find("RefUniMdt").get("V").startswith("RUM-OPH-")
        assert values(piece, "LigneDePiece/Tiers/InfoTiers/CatTiers") == ["60"]
    # every titre carries its PDF, the one archived for the invoice
    pjs = {pj.find("IdUnique").get("V"): pj for pj in root.iterfind("PES_PJ/PJ")}
    assert set(pjs) == {"FAC2026000001", "FAC2026000002", "FAC2026000003", "AVO2026000001"}
    fichier = pjs["FAC2026000002"].find("Contenu/Fichier")
    assert fichier is not None and fichier.get("MIMEType") == "application/pdf"
    assert gzip.decompress(base64.b64decode(fichier.text or "")) == read_document(issued, "FAC-2026-000002").content
    assert titre_of(issued, issued.execute("SELECT id FROM invoices WHERE number = 'AVO-2026-000001'").fetchone()[0]
                    )["number"] == 4


def test_numbers_follow_on_and_nothing_is_emitted_twice(issued: psycopg.Connection) -> None:
    save_settings(issued, HELIOS, actor=ACTOR)
    emit_titres(issued, actor=ACTOR, on=ON)
    with pytest.raises(StateError, match="aucune facture ni aucun avoir émis sans titre"):
        emit_titres(issued, actor=ACTOR, on=ON)
    credit(issued, "FAC-2026-000002", actor=ACTOR, reason="index erroné", lines={1: Decimal("5.00")})
    later = emit_titres(issued, actor=ACTOR, on=date(2026, 11, 20))
    root = etree.fromstring(bytes(issued.execute("SELECT content FROM pes_files WHERE id = %s",
                                                 (later.file_id,)).fetchone()[0]))
    assert later.titres == 1
    assert values(root, "PES_RecetteAller/Bordereau/BlocBordereau/IdBord") == ["2"]  # second reduction bordereau
    assert values(root, "PES_RecetteAller/Bordereau/Piece/BlocPiece/IdPce") == ["5"]
    assert values(root, ".//RattachPiece/IdPceOrig") == ["2"]
    # a new exercice starts its numbers again
    credit(issued, "FAC-2026-000003", actor=ACTOR, reason="index erroné", lines={1: Decimal("5.00")})
    next_year = emit_titres(issued, actor=ACTOR, on=date(2027, 1, 4))
    root = etree.fromstring(bytes(issued.execute("SELECT content FROM pes_files WHERE id = %s",
                                                 (next_year.file_id,)).fetchone()[0]))
    assert values(root, ".//Bordereau/BlocBordereau/Exer") == ["2027"]
    assert values(root, ".//Bordereau/Piece/BlocPiece/IdPce") == ["1"]
    assert values(root, ".//RattachPiece/ExerRat") == ["2026"]


def test_a_file_that_does_not_validate_stores_nothing_and_uses_no_number(
        issued: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    save_settings(issued, HELIOS, actor=ACTOR)
    real = aller.build_pes_aller

    def broken(*args: object, **kwargs: object) -> bytes:  # the real file with a bordereau number too long
        return real(*args, **kwargs).replace(b'<IdBord V="1"/>', b'<IdBord V="123456789"/>', 1)  # type: ignore[arg-type]

    monkeypatch.setattr(aller, "build_pes_aller", broken)
    with pytest.raises(PesError, match="IdBord"):
        emit_titres(issued, actor=ACTOR, on=ON)
    assert issued.execute("SELECT count(*) FROM pes_files").fetchone()[0] == 0
    assert issued.execute("SELECT count(*) FROM titres").fetchone()[0] == 0
    monkeypatch.setattr(aller, "build_pes_aller", real)
    done = emit_titres(issued, actor=ACTOR, on=ON)
    assert issued.execute("SELECT min(number), max(number) FROM titres").fetchone() == (1, 4)
    assert done.name.endswith("_00001")


def test_settings_and_collection_mode(issued: psycopg.Connection) -> None:
    with pytest.raises(StateError, match="codique du poste comptable, code collectivité, code budget"):
        emit_titres(issued, actor=ACTOR, on=ON)
    with pytest.raises(ValidationError) as caught:
        save_settings(issued, {**HELIOS, "id_post": "94-021", "cod_bud": "2", "collection": "banque"}, actor=ACTOR)
    assert {e.field for e in caught.value.errors} == {"id_post", "cod_bud", "collection"}
    assert read_settings(issued)["id_post"] is None  # nothing written
    save_settings(issued, {**HELIOS, "collection": "operator"}, actor=ACTOR)
    with pytest.raises(StateError, match="encaisse elle-même"):
        emit_titres(issued, actor=ACTOR, on=ON)


def test_debtor_codes_are_checked(issued: psycopg.Connection) -> None:
    base = {"code": "MAIRIE", "name": "Commune d'Ivry-sur-Seine", "address_line1": "Esplanade Georges-Marrane",
            "postcode": "94200", "city": "Ivry-sur-Seine"}
    for extra, field, message in (
            ({"helios_category": "23"}, "helios_legal_nature", "vont ensemble"),
            ({"helios_category": "23", "helios_legal_nature": "03"}, "helios_legal_nature", "ne va pas avec"),
            ({"helios_category": "60", "helios_legal_nature": "03", "public_entity": "oui", "siren": "217600000",
              "siret": "21760000000000"}, "siret", ""),
            ({"helios_category": "01", "helios_legal_nature": "01"}, "helios_category", "inconnue"),
            ({"helios_category": "23", "helios_legal_nature": "09"}, "helios_category", "est celle d'une entité")):
        with pytest.raises(ValidationError) as caught:
            save_subscriber(issued, {**base, **extra}, actor=ACTOR)
        assert any(e.field == field and message in e.message for e in caught.value.errors), caught.value.errors


def test_command_line(issued: psycopg.Connection, db: Database, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("REGIE_DATABASE_URL", db.url)
    monkeypatch.setenv("REGIE_MODE", "development")
    assert cli_main(["bill", "pes-settings", "--id-post", "094021", "--cod-col", "041", "--cod-bud", "02"]) == 0
    assert "poste comptable (codique) : 094021" in capsys.readouterr().out
    out = tmp_path / "pes.xml"
    assert cli_main(["bill", "titres", "--date", "2026-11-05", "-o", str(out)]) == 0
    assert "4 titre(s) en 2 bordereau(x)" in capsys.readouterr().out
    assert schema_errors(out.read_bytes()) == []
    again = tmp_path / "again.xml"
    file_id = issued.execute("SELECT max(id) FROM pes_files").fetchone()[0]
    assert cli_main(["bill", "pes-file", str(file_id), "-o", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()
    assert cli_main(["bill", "titres"]) == 2
    assert "aucune facture ni aucun avoir émis sans titre" in capsys.readouterr().err


def retour_file(conn: psycopg.Connection, statuses: list[TitreStatus], name: str = "retour-1",
                siret: str | None = None, budget: str = "02") -> bytes:
    """A PES Retour as Hélios would send it, for the titres emitted in this database."""
    amounts = {(int(r[0]), int(r[1])): r[2] for r in conn.execute(
        "SELECT t.exercice, t.number, i.total_ttc FROM titres t JOIN invoices i ON i.id = t.invoice_id")}
    issuer = conn.execute("SELECT siret FROM billing_issuer").fetchone()[0]
    return build_pes_retour(siret or issuer, "041", budget, "094021", statuses, amounts, name, date(2026, 12, 2))


def ttc(conn: psycopg.Connection, number: str) -> Decimal:
    return conn.execute("SELECT total_ttc FROM invoices WHERE number = %s", (number,)).fetchone()[0]


def test_pes_retour_takes_titres_in_charge_rejects_one_and_records_payments(issued: psycopg.Connection) -> None:
    save_settings(issued, HELIOS, actor=ACTOR)
    emit_titres(issued, actor=ACTOR, on=ON)
    fac1, fac2, fac3 = (ttc(issued, f"FAC-2026-00000{i}") for i in (1, 2, 3))
    half = (fac2 / 2).quantize(Decimal("0.01"))
    statuses = [
        TitreStatus(2026, 1, "01", 1, "taken", None, date(2026, 11, 12),
                    (Emargement("02", date(2026, 12, 1), fac1 - Decimal("10.55")),)),  # paid, net of its credit note
        TitreStatus(2026, 1, "01", 2, "taken", None, date(2026, 11, 12),
                    (Emargement("03", date(2026, 11, 30), half), Emargement("03", date(2026, 11, 30), half))),
        TitreStatus(2026, 1, "01", 3, "rejected", "Adresse du redevable incomplète", date(2026, 11, 12)),
        TitreStatus(2026, 1, "02", 4, "taken", None, date(2026, 11, 12)),
        TitreStatus(2026, 7, "01", 99, "taken", None, date(2026, 11, 12)),
    ]
    content = retour_file(issued, statuses)
    done = import_retour(issued, content, "retour-1.xml", actor=ACTOR)
    assert (done.already, done.titres, done.states_changed, done.emargements) == (False, 4, 4, 3)
    assert done.unknown == ["titre n° 99 de 2026 (bordereau 7) inconnu de la régie"]
    assert done.rejected == ["FAC-2026-000003 (titre n° 3) : Adresse du redevable incomplète"]
    ids = {n: issued.execute("SELECT id FROM invoices WHERE number = %s", (n,)).fetchone()[0]
           for n in ("FAC-2026-000001", "FAC-2026-000002", "FAC-2026-000003")}
    assert titre_of(issued, ids["FAC-2026-000003"])["state"] == "rejected"
    assert titre_of(issued, ids["FAC-2026-000001"])["state"] == "taken"
    one = invoice_balance(issued, ids["FAC-2026-000001"])
    assert (one["credited"], one["paid"], one["due"]) == (Decimal("10.55"), fac1 - Decimal("10.55"), 0)
    two = invoice_balance(issued, ids["FAC-2026-000002"])  # two identical half payments are two payments
    assert (two["paid"], two["due"]) == (2 * half, fac2 - 2 * half)
    assert invoice_balance(issued, ids["FAC-2026-000003"])["due"] == fac3

    again = import_retour(issued, content, "retour-1-copie.xml", actor=ACTOR)
    assert again.already and again.emargements == 0
    # a later file repeating the payments and adding a write-off adds the write-off only
    later = retour_file(issued, [
        TitreStatus(2026, 1, "01", 2, "taken", None, date(2026, 11, 12),
                    (Emargement("03", date(2026, 11, 30), half), Emargement("03", date(2026, 11, 30), half),
                     Emargement("06", date(2027, 3, 1), Decimal("1.00"))))], name="retour-2")
    assert import_retour(issued, later, "retour-2.xml", actor=ACTOR).emargements == 1
    assert issued.execute("SELECT count(*) FROM titre_emargements").fetchone()[0] == 4


def test_pes_retour_of_another_budget_or_collectivity_is_refused(issued: psycopg.Connection) -> None:
    save_settings(issued, HELIOS, actor=ACTOR)
    emit_titres(issued, actor=ACTOR, on=ON)
    status = [TitreStatus(2026, 1, "01", 1, "taken", None, date(2026, 11, 12))]
    with pytest.raises(PesError, match="budget 07"):
        import_retour(issued, retour_file(issued, status, budget="07"), "r.xml", actor=ACTOR)
    with pytest.raises(PesError, match="collectivité 21940041500018"):
        import_retour(issued, retour_file(issued, status, siret="21940041500018"), "r.xml", actor=ACTOR)
    with pytest.raises(PesError, match="non conforme"):
        import_retour(issued, b"<PES_Retour/>", "r.xml", actor=ACTOR)
    assert issued.execute("SELECT count(*) FROM pes_retours").fetchone()[0] == 0
    assert titre_of(issued, issued.execute("SELECT min(id) FROM invoices").fetchone()[0])["state"] == "sent"

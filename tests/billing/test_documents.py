"""Invoice documents and exchanges: the PDF's text holds every mandatory mention and the database's
amounts; the Factur-X XML passes the XSD, EN 16931 and the French rules, and matches the invoice; the
PDF is PDF/A-3 with its XML embedded; documents are stored once and served with their hash; the pain.008
validates with the right sequence types; the journal balances."""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from lxml import etree
from psycopg.types.json import Jsonb

from billing import fr
from billing.documents.facturx import SchematronRunner, check_xsd, extract_xml
from billing.documents.store import read_document
from billing.errors import StateError, ValidationError
from billing.exports.accounting import export_accounting
from billing.exports.sepa import earliest_collection, export_sepa
from billing.identifiers import creditor_reference
from billing.records import save_mandate
from billing.regie import save_reduction
from billing.runs import simulate_run
from regie_chaleur.db.database import Database
from regie_chaleur.services.billing import credit, issue_with_documents
from tests.billing.support import ACTOR, contract, iban, remote, setup_billing, subscriber

OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)
NS = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
      "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
PAIN = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"}


@pytest.fixture(scope="module")
def schematron() -> SchematronRunner:
    return SchematronRunner()


@pytest.fixture
def billed(db: Database) -> Iterator[psycopg.Connection]:
    """October 2026 issued with documents: POL-0001 (public school, transfer, Chorus Pro codes),
    POL-0002 and POL-0003 (social housing, SEPA, 10 % off R2); a credit note on POL-0001's invoice."""
    with db.pool.connection() as conn:
        setup_billing(conn)
        save_reduction(conn, "logement_social", date(2026, 1, 1), None, Decimal("10"), "R2", "CA-2025-13",
                       actor=ACTOR)
        conn.execute("INSERT INTO network_disclosures (network, year, co2_g_per_kwh, mix, renewable_share_pct, source) "
                     "VALUES ('centre', 2025, 52, %s, 78, 'arrêté DPE, annexe 7 (démonstration)')",
                     (Jsonb({"Récupération UVE Ivry-Paris XIII": 71, "Géothermie": 7, "Gaz naturel": 22}),))
        subscriber(conn, "ECOLE-JC", 1, public_entity="oui", chorus_service_code="SERV-CHAUF",
                   chorus_engagement="EJ-2026-0077")
        contract(conn, "POL-0001", "ECOLE-JC", "PDL-0001", date(2025, 1, 1), category="equipement_public")
        for n, code in ((2, "OPH-A"), (3, "OPH-B")):
            subscriber(conn, code, n)
            save_mandate(conn, {"subscriber": code, "reference": f"RUM-{code}-2026", "signed_on": "2026-01-05",
                                "iban": iban(40 + n)}, actor=ACTOR)
            contract(conn, f"POL-000{n}", code, f"PDL-000{n}", date(2025, 1, 1), category="logement_social",
                     payment_method="sepa", mandate=f"RUM-{code}-2026")
        for i in (1, 2, 3):
            remote(conn, f"MTR-000{i}", OCT, str(480_000 + i))
            remote(conn, f"MTR-000{i}", NOV, str(494_000 + 7 * i))
            daily_history(conn, f"DEV-000{i}", scale=i)
        run = simulate_run(conn, OCT, actor=ACTOR, run_date=date(2026, 11, 3))
        issue_with_documents(conn, run.run_id, actor=ACTOR)
        credit(conn, "FAC-2026-000001", actor=ACTOR, reason="erreur sur la puissance souscrite",
               lines={2: Decimal("10.00")})
        yield conn


def daily_history(conn: psycopg.Connection, device: str, scale: int) -> None:
    """25 months of daily energy and outdoor temperatures in the rollup, heating in winter."""
    device_id = conn.execute("SELECT id FROM devices WHERE code = %s", (device,)).fetchone()
    assert device_id is not None
    day, rows = date(2024, 10, 1), []
    while day < NOV:
        t_mean = 11.5 - 8.5 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365)
        kwh = 150 * scale + 40 * scale * max(0.0, 17 - t_mean)
        rows.append((device_id[0], day, kwh, t_mean - 4, t_mean + 4, 24))
        day += timedelta(days=1)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO substation_daily (device_id, day, energy_kwh, t_outdoor_min, t_outdoor_max, "
                        "hours) VALUES (%s, %s, %s, %s, %s, %s)", rows)


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return " ".join(out.stdout.decode("utf-8").replace("\u202f", " ").replace("\xa0", " ").split())


def invoice_row(conn: psycopg.Connection, number: str) -> dict[str, object]:
    cur = conn.execute("SELECT * FROM invoices WHERE number = %s", (number,))
    row = cur.fetchone()
    assert row is not None
    return dict(zip([c.name for c in cur.description or []], row, strict=True))


def plain(text: str) -> str:
    return text.replace("\u202f", " ").replace("\xa0", " ")


def test_pdf_text_has_every_mandatory_mention_and_the_database_amounts(billed: psycopg.Connection,
                                                                         tmp_path: Path) -> None:
    inv = invoice_row(billed, "FAC-2026-000002")  # social housing, SEPA, reduction
    text = pdf_text(read_document(billed, "FAC-2026-000002").content, tmp_path)
    seller, buyer = inv["seller"], inv["buyer"]
    assert isinstance(seller, dict) and isinstance(buyer, dict)
    expected = [
        # CGI annexe II art. 242 nonies A: parties, identifiers, number, dates, period, designation, prices
        seller["name"], f"SIREN {seller['siren']}", f"SIRET {seller['siret']}", seller["vat_number"],
        seller["address_line1"], buyer["name"], buyer["address_line1"], f"SIREN {buyer['siren']}",
        f"TVA {buyer['vat_number']}", "FACTURE", "FAC-2026-000002", f"Date d'émission {fr.day(inv['issue_date'])}",
        f"Date d'échéance {fr.day(inv['due_date'])}", "du 01/10/2026 au 31/10/2026", "Contrat POL-0002",
        "Quantité", "Prix unitaire HT", "R1 – énergie consommée", "R22 – conduite et petit entretien",
        "62,3500 €/MWh", "14,012 MWh", "Réduction sociale", "Total HT", "Total TVA",
        # the delivery point, the meter and the readings used, actual or estimated
        "PDL-0002", "MTR-0002", "Index de début", "480 002", "Index de fin", "494 014", "relevé (télérelève)",
        "Consommation 14 012",
        # VAT per rate, totals equal to the database's
        plain(fr.eur(inv["total_ht"])), plain(fr.eur(inv["total_vat"])), plain(fr.eur(inv["total_ttc"])),
        "5,5 %",
        # payment: terms, method (SEPA mandate), late payment, no discount
        "Prélèvement SEPA", "mandat RUM-OPH-A-2026", "Identifiant créancier SEPA", "Pénalités de retard",
        "40 €", "Pas d'escompte",
        # a régie's invoice is a titre exécutoire with its voies et délais de recours
        "Titre exécutoire", "L.1617-5", "deux mois", "Comptable public",
        # EU billing information: chart, mix, CO2 content, complaints and mediation
        "Votre consommation et votre réseau", "consommation du mois", "même mois un an plus tôt",
        "corrigée du climat", "Bouquet énergétique du réseau (2025)", "Récupération UVE Ivry-Paris XIII",
        "52 g CO₂/kWh", "Énergies renouvelables et de récupération : 78 %", "médiateur national de l'énergie",
    ]
    missing = [m for m in expected if plain(m) not in text]
    assert not missing, f"not in the PDF: {missing}"
    vat = billed.execute("SELECT base, vat FROM invoice_vat WHERE invoice_id = %s", (inv["id"],)).fetchone()
    assert vat is not None and plain(fr.eur(vat[0])) in text and plain(fr.eur(vat[1])) in text
    for (amount,) in billed.execute("SELECT amount_ht FROM invoice_lines WHERE invoice_id = %s", (inv["id"],)):
        assert plain(fr.eur(amount)) in text


def test_public_entity_invoice_and_credit_note(billed: psycopg.Connection, tmp_path: Path) -> None:
    invoice = pdf_text(read_document(billed, "FAC-2026-000001").content, tmp_path)
    for mention in ("Code service SERV-CHAUF", "N° d'engagement EJ-2026-0077", "par virement à l'ordre du comptable "
                    "public", f"référence {creditor_reference('FAC-2026-000001')} (facture FAC-2026-000001)",
                    "Équipement public"):
        assert mention in invoice
    note = pdf_text(read_document(billed, "AVO-2026-000001").content, tmp_path)
    row = invoice_row(billed, "AVO-2026-000001")
    assert "AVOIR" in note and "Avoir sur la facture n° FAC-2026-000001 du" in note
    assert "Motif : erreur sur la puissance souscrite" in note
    assert plain(fr.eur(row["total_ttc"])) in note and "10,55 €" in note  # 10,00 € + 5,5 % VAT


def test_facturx_xml_is_valid_and_matches_the_invoice(billed: psycopg.Connection,
                                                       schematron: SchematronRunner) -> None:
    for number in ("FAC-2026-000001", "FAC-2026-000002", "FAC-2026-000003", "AVO-2026-000001"):
        pdf = read_document(billed, number).content
        xml = extract_xml(pdf)
        assert xml == read_document(billed, number, "cii_xml").content  # the stored XML is the embedded one
        check_xsd(xml)
        assert schematron.failures(xml) == [], number
        inv = invoice_row(billed, number)
        root = etree.fromstring(xml)

        def one(path: str, root: etree._Element = root) -> str:
            (found,) = root.xpath(path, namespaces=NS)
            return str(found)

        assert one("//rsm:ExchangedDocument/ram:ID/text()") == number
        assert one("//rsm:ExchangedDocument/ram:TypeCode/text()") == ("381" if number.startswith("AVO") else "380")
        assert Decimal(one("//ram:GrandTotalAmount/text()")) == inv["total_ttc"]
        assert Decimal(one("//ram:TaxBasisTotalAmount/text()")) == inv["total_ht"]
        assert Decimal(one("//ram:TaxTotalAmount/text()")) == inv["total_vat"]
        breakdown = {Decimal(t.findtext("ram:RateApplicablePercent", namespaces=NS)):
                     (Decimal(t.findtext("ram:BasisAmount", namespaces=NS)),
                      Decimal(t.findtext("ram:CalculatedAmount", namespaces=NS)))
                     for t in root.iterfind(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS)}
        stored = {r[0]: (r[1], r[2]) for r in billed.execute(
            "SELECT rate, base, vat FROM invoice_vat WHERE invoice_id = %s", (inv["id"],))}
        assert breakdown == stored  # the PDF's VAT breakdown, to the cent
        seller, buyer = inv["seller"], inv["buyer"]
        assert isinstance(seller, dict) and isinstance(buyer, dict)
        assert one("//ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID/text()") == seller["siren"]
        assert one("//ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID/@schemeID") == "0002"
        assert one("//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID/text()") == buyer["siren"]
        assert one("//ram:BuyerTradeParty/ram:URIUniversalCommunication/ram:URIID/text()") == buyer["siren"]
    fac1 = etree.fromstring(read_document(billed, "FAC-2026-000001", "cii_xml").content)
    assert fac1.xpath("//ram:BuyerReference/text()", namespaces=NS) == ["SERV-CHAUF"]  # Chorus Pro service code
    assert fac1.xpath("//ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID/text()",
                      namespaces=NS) == ["EJ-2026-0077"]
    note = etree.fromstring(read_document(billed, "AVO-2026-000001", "cii_xml").content)
    assert note.xpath("//ram:InvoiceReferencedDocument/ram:IssuerAssignedID/text()",
                      namespaces=NS) == ["FAC-2026-000001"]
    sepa = etree.fromstring(read_document(billed, "FAC-2026-000002", "cii_xml").content)
    assert sepa.xpath("//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode/text()", namespaces=NS) == ["59"]
    assert sepa.xpath("//ram:DirectDebitMandateID/text()", namespaces=NS) == ["RUM-OPH-A-2026"]
    assert sepa.xpath("//ram:SpecifiedTradeAllowanceCharge/ram:ActualAmount/text()", namespaces=NS)  # the reduction


def test_schematron_catches_a_wrong_total(billed: psycopg.Connection, schematron: SchematronRunner) -> None:
    xml = read_document(billed, "FAC-2026-000002", "cii_xml").content
    forged = re.sub(rb"<ram:GrandTotalAmount>[^<]+", b"<ram:GrandTotalAmount>1.00", xml)
    assert any("BR-CO-15" in f for f in schematron.failures(forged))


def test_pdf_is_pdfa3_with_the_xml_attached(billed: psycopg.Connection, tmp_path: Path) -> None:
    import io

    import pypdf

    pdf = read_document(billed, "FAC-2026-000002").content
    root = pypdf.PdfReader(io.BytesIO(pdf)).trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert "<pdfaid:part>3</pdfaid:part>" in xmp and "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in xmp
    assert "/OutputIntents" in root and "/AF" in root  # colour profile, associated file (PDF/A-3)
    path = tmp_path / "f.pdf"
    path.write_bytes(pdf)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "DejaVuSans" in fonts and all(" yes yes " in line for line in fonts.splitlines()[2:])  # embedded, subset
    attachments = subprocess.run(["pdfdetach", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    assert "factur-x.xml" in attachments


def test_documents_are_stored_once_and_served_with_their_hash(billed: psycopg.Connection) -> None:
    import hashlib

    doc = read_document(billed, "FAC-2026-000002")
    assert doc.sha256 == hashlib.sha256(doc.content).hexdigest() and doc.filename == "FAC-2026-000002.pdf"
    assert billed.execute("SELECT count(*) FROM invoice_documents").fetchone() == (8,)  # 4 documents × PDF + XML
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
        billed.execute("UPDATE invoice_documents SET content = 'x' WHERE kind = 'facturx_pdf'")
    from regie_chaleur.services.documents import generate_run_documents

    assert generate_run_documents(billed, 1) == 0  # nothing regenerated


def test_sepa_direct_debit_file(billed: psycopg.Connection) -> None:
    issued_on, due = billed.execute("SELECT max(issue_date), max(due_date) FROM invoices WHERE run_id = 1").fetchone()
    with pytest.raises(StateError, match="passée"):
        export_sepa(billed, 1, issued_on - timedelta(days=1), actor=ACTOR, today=issued_on)
    # the rulebook's pre-notification (14 days) and the invoices' due date (30 days after issue) come first
    earliest = max(due, issued_on + timedelta(days=14))
    assert earliest_collection(billed, 1) == earliest == issued_on + timedelta(days=30)
    with pytest.raises(StateError, match=f"trop proche : au plus tôt le {fr.day(earliest)}"):
        export_sepa(billed, 1, issued_on + timedelta(days=2), actor=ACTOR, today=issued_on)
    done = export_sepa(billed, 1, earliest, actor=ACTOR, today=issued_on)
    assert (done.payments, done.first) == (2, 2)  # first collection under both mandates
    root = etree.fromstring(done.content)
    assert root.xpath("//p:PmtInf/p:PmtTpInf/p:SeqTp/text()", namespaces=PAIN) == ["FRST"]
    amounts = {e.getparent().findtext("p:PmtId/p:EndToEndId", namespaces=PAIN): Decimal(e.text)
               for e in root.iterfind(".//p:DrctDbtTxInf/p:InstdAmt", PAIN)}
    expected = dict(billed.execute("SELECT number, total_ttc FROM invoices WHERE number IN "
                                   "('FAC-2026-000002', 'FAC-2026-000003')").fetchall())
    assert amounts == expected
    assert root.findtext(".//p:CdtrSchmeId/p:Id/p:PrvtId/p:Othr/p:Id", namespaces=PAIN) == "FR72ZZZ123456"
    again = export_sepa(billed, 1, earliest, actor=ACTOR, today=issued_on + timedelta(days=15))
    assert again.content == done.content  # the same file, not a second collection
    with pytest.raises(StateError, match="aucune facture à prélever"):
        export_sepa(billed, 1, earliest + timedelta(days=7), actor=ACTOR, today=issued_on)
    # November: both mandates were collected once, so RCUR; a bad IBAN is named and stops the file
    billed.execute("UPDATE sepa_mandates SET iban = 'FR7630004000000000000000099' WHERE reference = 'RUM-OPH-B-2026'")
    for i in (2, 3):
        remote(billed, f"MTR-000{i}", date(2026, 12, 1), str(510_000 + i))
    run = simulate_run(billed, NOV, actor=ACTOR, run_date=date(2026, 12, 2))
    issue_with_documents(billed, run.run_id, actor=ACTOR, documents=False)
    with pytest.raises(ValidationError, match="IBAN « FR7630004000000000000000099 » invalide"):
        export_sepa(billed, run.run_id, date.today() + timedelta(days=60), actor=ACTOR, today=date.today())
    billed.execute("UPDATE sepa_mandates SET iban = %s WHERE reference = 'RUM-OPH-B-2026'", (iban(43),))
    november = export_sepa(billed, run.run_id, date.today() + timedelta(days=60), actor=ACTOR, today=date.today())
    assert etree.fromstring(november.content).xpath("//p:PmtInf/p:PmtTpInf/p:SeqTp/text()",
                                                    namespaces=PAIN) == ["RCUR"]


def test_accounting_journal_balances(billed: psycopg.Connection) -> None:
    done = export_accounting(billed, 1)
    assert done.entries == 4  # three invoices and the credit note on one of them
    lines = [line.split(";") for line in done.journal_csv.strip().split("\r\n")]
    assert lines[0][:6] == ["JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib"]

    def amount(text: str) -> Decimal:
        return Decimal(text.replace(",", "."))

    assert sum(amount(row[11]) for row in lines[1:]) == sum(amount(row[12]) for row in lines[1:]) == done.debit
    for entry in {row[2] for row in lines[1:]}:  # each entry balances to the cent
        rows = [row for row in lines[1:] if row[2] == entry]
        assert sum(amount(r[11]) for r in rows) == sum(amount(r[12]) for r in rows)
    totals = dict(billed.execute("SELECT number, total_ttc FROM invoices").fetchall())
    customer = {row[8]: amount(row[11]) - amount(row[12]) for row in lines[1:] if row[4] == "411"}
    assert customer == {n: (t if n.startswith("FAC") else -t) for n, t in totals.items()}
    accounts = {row[4] for row in lines[1:]}
    assert {"411", "70611", "70621", "70622", "70623", "70624", "7097", "445715"} <= accounts
    titles = done.titles_csv.strip().split("\r\n")
    assert len(titles) == 5 and titles[0].startswith("numero_titre;nature;exercice")
    assert any("AVO-2026-000001;réduction/annulation" in t and t.endswith("FAC-2026-000001") for t in titles)


def test_no_document_for_a_draft(billed: psycopg.Connection) -> None:
    from billing.documents.content import read_content

    remote(billed, "MTR-0001", date(2026, 12, 1), "500000")
    draft = simulate_run(billed, NOV, actor=ACTOR, run_date=date(2026, 12, 2))
    assert draft.invoices == 3  # two of them on an estimate from their recent average
    row = billed.execute("SELECT id FROM invoices WHERE status = 'draft' LIMIT 1").fetchone()
    assert row is not None
    with pytest.raises(StateError, match="brouillon"):
        read_content(billed, row[0])


def test_worker_processes_generate_after_the_parent_rendered(billed: psycopg.Connection, db: Database) -> None:
    """The parent process has rendered documents already (the fixture); worker processes must still work
    (a forked child would inherit the Typst compiler without its threads and hang)."""
    import threading

    from regie_chaleur.services.documents import generate_run_documents

    for i in (1, 2, 3):
        remote(billed, f"MTR-000{i}", date(2026, 12, 1), str(510_000 + i))
    run = simulate_run(billed, NOV, actor=ACTOR, run_date=date(2026, 12, 2))
    issue_with_documents(billed, run.run_id, actor=ACTOR, documents=False)
    made: list[int] = []

    def generate() -> None:
        with db.pool.connection() as conn:
            made.append(generate_run_documents(conn, run.run_id, workers=2))

    worker = threading.Thread(target=generate, daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "document generation with worker processes hung"
    assert made == [3]
    assert read_document(billed, "FAC-2026-000004").content.startswith(b"%PDF-")

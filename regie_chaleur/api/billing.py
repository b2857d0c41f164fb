"""Billing API: runs (simulate, review, issue), invoices and credit notes, imports, subscribers, contracts.

Money is given as decimal strings (exact), in euros; energies in kWh and MWh, powers in kW.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Response
from pydantic import BaseModel, Field

from billing import imports
from billing.documents.store import read_document
from billing.exports.accounting import export_accounting
from billing.exports.sepa import export_sepa
from billing.periods import parse_month
from billing.records import change_power, save_contract, save_subscriber
from billing.runs import run_summary
from regie_chaleur.deps import ActorDep, DbDep, Offset
from regie_chaleur.services import billing_read as q
from regie_chaleur.services.billing import bill_month, credit, issue_confirmed
from regie_chaleur.services.documents import generate_run_documents

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])


class RunRequest(BaseModel):
    month: str = Field(pattern=r"^\d{4}-\d{2}$", examples=["2026-10"], description="the month billed")
    simulate_only: bool = Field(True, description="drafts for review; false: issue at once")


class RunException(BaseModel):
    contract: str
    code: str = Field(examples=["missing_reading"])
    blocking: bool
    message: str


class RunOut(BaseModel):
    run_id: int
    month: date
    status: str = Field(examples=["simulated"])
    contracts: int
    invoices: int
    total_ht: Decimal = Field(description="[€] excl. VAT")
    total_ttc: Decimal = Field(description="[€] incl. VAT")
    exceptions: list[RunException]


class IssueOut(BaseModel):
    run_id: int
    issued: int
    first_number: str | None = Field(examples=["FAC-2026-000001"])
    last_number: str | None


class CreditRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
    lines: dict[int, Decimal] | None = Field(None, description="line number → amount excl. VAT [€]; omit: full")
    reissue: bool = Field(False, description="after a full credit, issue the corrected invoice")


class CreditOut(BaseModel):
    credit_note: str = Field(examples=["AVO-2026-000001"])
    total_ttc: Decimal = Field(description="[€] credited, VAT included")
    full: bool
    corrected_invoice: str | None


class ImportOut(BaseModel):
    created: int
    unchanged: int


class PowerChange(BaseModel):
    valid_from: date
    power_kw: Decimal = Field(gt=0, le=1_000_000, description="[kW] subscribed power from that day on")
    reason: str = Field(min_length=1, max_length=500)


def _run_out(summary: Any) -> RunOut:
    return RunOut(run_id=summary.run_id, month=summary.month, status=summary.status, contracts=summary.contracts,
                  invoices=summary.invoices, total_ht=summary.total_ht, total_ttc=summary.total_ttc,
                  exceptions=[RunException(contract=e.contract, code=e.code, blocking=e.blocking, message=e.message)
                              for e in summary.exceptions])


@router.get("/runs")
def runs(db: DbDep) -> list[dict[str, Any]]:
    """Bill runs, newest month first."""
    with db.pool.connection() as conn:
        return q.list_runs(conn)


@router.post("/runs", response_model=RunOut)
def start_run(db: DbDep, actor: ActorDep, body: RunRequest) -> RunOut:
    """Take the boundary readings, compute the month's drafts and review list; issue at once if asked."""
    try:
        month = parse_month(body.month)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    with db.pool.connection() as conn:
        result = bill_month(conn, month, actor=actor, simulate_only=body.simulate_only)
    return _run_out(result.run)


@router.get("/runs/{run_id}", response_model=RunOut)
def show_run(db: DbDep, run_id: int) -> RunOut:
    """A run's totals and its review list (blocking exceptions first)."""
    with db.pool.connection() as conn:
        return _run_out(run_summary(conn, run_id))


class IssueConfirmation(BaseModel):
    invoices: int = Field(ge=0, description="the number of drafts the caller reviewed (GET /runs/{id})")
    total_ttc: Decimal = Field(description="[€] their total incl. VAT, as reviewed")


@router.post("/runs/{run_id}/issue", response_model=IssueOut,
             responses={409: {"description": "the run's drafts no longer match the confirmation"}})
def issue(db: DbDep, actor: ActorDep, run_id: int, body: IssueConfirmation) -> IssueOut:
    """Number and issue the run's drafts, confirmed by their count and total as reviewed (a run simulated
    again since, or another run, is refused with 409 and its figures); issuing an issued run does
    nothing."""
    with db.pool.connection() as conn:
        done = issue_confirmed(conn, run_id, body.invoices, body.total_ttc, actor=actor)
    return IssueOut(run_id=run_id, issued=done.issued, first_number=done.first_number, last_number=done.last_number)


class SepaRequest(BaseModel):
    collection_date: date = Field(description="the day the debits are collected")


@router.post("/runs/{run_id}/documents")
def run_documents(db: DbDep, run_id: int) -> dict[str, int]:
    """Generate and store the missing PDF/Factur-X documents of a run's invoices and credit notes."""
    with db.pool.connection() as conn:
        return {"generated": generate_run_documents(conn, run_id)}


@router.post("/runs/{run_id}/sepa", response_class=Response,
             responses={200: {"content": {"application/xml": {}}, "description": "pain.008.001.02"}})
def run_sepa(db: DbDep, actor: ActorDep, run_id: int, body: SepaRequest) -> Response:
    """The run's SEPA direct-debit file (the same file again for the same date)."""
    with db.pool.connection() as conn:
        done = export_sepa(conn, run_id, body.collection_date, actor=actor)
    name = f"prelevements-{run_id}-{body.collection_date:%Y%m%d}.xml"
    return Response(done.content, media_type="application/xml", headers=_attachment(name))


@router.get("/runs/{run_id}/accounting/{part}", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "FEC-style journal, or titles"}})
def run_accounting(db: DbDep, run_id: int, part: Literal["journal", "titles"]) -> Response:
    """The run's accounting journal (balanced) or its list of titles for the public accountant, as CSV."""
    with db.pool.connection() as conn:
        done = export_accounting(conn, run_id)
    text, name = (done.journal_csv, f"journal-{run_id}.csv") if part == "journal" else (
        done.titles_csv, f"titres-{run_id}.csv")
    return Response(text.encode(), media_type="text/csv; charset=utf-8", headers=_attachment(name))


@router.get("/invoices/{number}/{kind}", response_class=Response,
            responses={200: {"content": {"application/pdf": {}, "application/xml": {}}}})
def invoice_document(db: DbDep, number: str, kind: Literal["pdf", "xml"]) -> Response:
    """The stored document of an invoice: its Factur-X PDF, or its CII XML (the file stored at issue)."""
    with db.pool.connection() as conn:
        doc = read_document(conn, number, "facturx_pdf" if kind == "pdf" else "cii_xml")
    return Response(doc.content, media_type=doc.mime, headers=_attachment(doc.filename, inline=kind == "pdf")
                    | {"X-Content-SHA256": doc.sha256})


def _attachment(name: str, inline: bool = False) -> dict[str, str]:
    return {"Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"'}


@router.get("/invoices")
def invoices(db: DbDep, run_id: int | None = None, kind: Literal["invoice", "credit_note"] | None = None,
             status: Literal["draft", "issued"] | None = "issued", search: str | None = None,
             limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0
             ) -> dict[str, Any]:
    """Invoices and credit notes, newest first."""
    with db.pool.connection() as conn:
        items, total = q.list_invoices(conn, run_id=run_id, kind=kind, status=status, search=search, limit=limit,
                                       offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/invoices/{number}")
def invoice(db: DbDep, number: str) -> dict[str, Any]:
    """One invoice or credit note with its lines, VAT per rate, readings and credit notes."""
    with db.pool.connection() as conn:
        found = q.invoice_detail(conn, number)
    if found is None:
        raise HTTPException(404, f"facture {number} inconnue")
    return found


@router.post("/invoices/{number}/credit", response_model=CreditOut)
def credit_note(db: DbDep, actor: ActorDep, number: str, body: CreditRequest) -> CreditOut:
    """A credit note on an issued invoice (full, or lines given), then the corrected invoice if asked."""
    with db.pool.connection() as conn:
        result = credit(conn, number, actor=actor, reason=body.reason, lines=body.lines, reissue=body.reissue)
    return CreditOut(credit_note=result.credit_note_number, total_ttc=result.total_ttc, full=result.full,
                     corrected_invoice=result.corrected_invoice_number)


@router.post("/import/{kind}", response_model=ImportOut)
def import_csv(db: DbDep, actor: ActorDep, kind: Literal["tariffs", "indices", "formulas", "subscribers", "contracts"],
               body: Annotated[str, Body(media_type="text/csv")]) -> ImportOut:
    """Import a CSV file (all or nothing; 422 lists every bad line)."""
    with db.pool.connection() as conn:
        report = getattr(imports, f"import_{kind}")(conn, body, f"{kind}.csv", actor=actor)
    return ImportOut(created=report.created, unchanged=report.unchanged)


@router.get("/subscribers")
def subscribers(db: DbDep, search: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                offset: Offset = 0) -> dict[str, Any]:
    with db.pool.connection() as conn:
        items, total = q.list_subscribers(conn, search, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post("/subscribers", status_code=201)
def create_subscriber(db: DbDep, actor: ActorDep, body: dict[str, str | bool | None]) -> dict[str, int]:
    """Create a subscriber (422 with every invalid field: SIREN/SIRET keys, VAT number, postcode...)."""
    with db.pool.connection() as conn:
        return {"id": save_subscriber(conn, body, actor=actor)}


@router.get("/subscribers/{subscriber_id}")
def subscriber(db: DbDep, subscriber_id: int) -> dict[str, Any]:
    with db.pool.connection() as conn:
        found = q.subscriber_detail(conn, subscriber_id)
    if found is None:
        raise HTTPException(404, "abonné inconnu")
    return found


@router.put("/subscribers/{subscriber_id}")
def update_subscriber(db: DbDep, actor: ActorDep, subscriber_id: int, body: dict[str, str | bool | None]
                      ) -> dict[str, int]:
    with db.pool.connection() as conn:
        return {"id": save_subscriber(conn, body, actor=actor, subscriber_id=subscriber_id)}


@router.get("/contracts")
def contracts(db: DbDep, search: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50,
              offset: Offset = 0) -> dict[str, Any]:
    with db.pool.connection() as conn:
        items, total = q.list_contracts(conn, search=search, limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post("/contracts", status_code=201)
def create_contract(db: DbDep, actor: ActorDep, body: dict[str, str | None]) -> dict[str, int]:
    """Create a contract with its initial subscribed power (422 with every invalid field)."""
    with db.pool.connection() as conn:
        return {"id": save_contract(conn, body, actor=actor)}


@router.get("/contracts/{number}")
def contract(db: DbDep, number: str) -> dict[str, Any]:
    with db.pool.connection() as conn:
        found = q.contract_detail(conn, number)
    if found is None:
        raise HTTPException(404, f"contrat {number} inconnu")
    return found


class PowerChanged(BaseModel):
    warnings: list[str] = Field(description="e.g. a date inside an invoiced period: regularised on the next invoice")


@router.post("/contracts/{number}/power", response_model=PowerChanged)
def contract_power(db: DbDep, actor: ActorDep, number: str, body: PowerChange) -> PowerChanged:
    """A new subscribed power from a date on (history kept); a date inside a period already invoiced is
    accepted with a warning, and the difference is regularised on the next invoice."""
    with db.pool.connection() as conn:
        return PowerChanged(warnings=change_power(conn, number, body.valid_from, body.power_kw, body.reason,
                                                  actor=actor))

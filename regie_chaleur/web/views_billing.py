"""Billing staff pages (facturation): bill runs (simulate, review, issue, with progress), invoices and
credit notes, exports, tariffs and indices. Subscribers, contracts and delivery points:
:mod:`regie_chaleur.web.views_billing_parties`."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from billing import fr, imports
from billing.documents.store import read_document
from billing.errors import BillingError, FieldError, StateError, ValidationError
from billing.exports.accounting import export_accounting
from billing.exports.sepa import earliest_collection, export_sepa
from billing.periods import PARIS, parse_month
from billing.retours import emargements_of, invoice_balance
from billing.runs import check_month_ended, discard_run, run_summary
from billing.sepa_returns import returns_of
from billing.titres import TITRE_STATES, titre_of
from regie_chaleur.deps import DbDep, Offset
from regie_chaleur.services import billing_read as q
from regie_chaleur.services.billing import bill_month, credit, issue_confirmed
from regie_chaleur.services.documents import generate_run_documents
from regie_chaleur.web.authz import BillingDep
from regie_chaleur.web.jobs import StageProgress, read_job, start_job
from regie_chaleur.web.render import page

router = APIRouter(prefix="/facturation", include_in_schema=False)
LIMIT = 50
STATUS_LABELS = {"simulated": "simulée (brouillons)", "issued": "émise"}


def _form(values: Any) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if k != "csrf_token"}


# --- runs -------------------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
def runs(request: Request, db: DbDep, principal: BillingDep) -> HTMLResponse:
    with db.pool.connection() as conn:
        rows = q.list_runs(conn)
    return page(request, "billing/runs.html", title="Tournées de facturation", runs=rows, labels=STATUS_LABELS,
                default_month=f"{date.today().replace(day=1) - timedelta(days=1):%Y-%m}")


@router.post("/tournees")
def start_run(request: Request, db: DbDep, principal: BillingDep, mois: Annotated[str, Form(max_length=7)]) -> Response:
    try:
        month = parse_month(mois)
        check_month_ended(month, datetime.now(PARIS).date())
    except (ValueError, StateError) as exc:
        with db.pool.connection() as conn:
            rows = q.list_runs(conn)
        return page(request, "billing/runs.html", status_code=422, title="Tournées de facturation", runs=rows,
                    labels=STATUS_LABELS, default_month=mois, error=str(exc))

    def work(conn: Any, progress: StageProgress) -> dict[str, Any]:
        result = bill_month(conn, month, actor=principal.login, simulate_only=True, progress=progress)
        return {"run_id": result.run.run_id or None, "invoices": result.run.invoices,
                "blocking": result.run.blocking, "message": result.run.message}

    job = start_job(db, "simulate", principal.login, work)
    return RedirectResponse(f"/facturation/taches/{job}", status_code=303)


@router.get("/taches/{job_id}", response_class=HTMLResponse)
def job(request: Request, db: DbDep, principal: BillingDep, job_id: int) -> HTMLResponse:
    with db.pool.connection() as conn:
        found = read_job(conn, job_id)
    if found is None:
        raise HTTPException(404, "tâche inconnue")
    partial = request.headers.get("hx-request") == "true"
    return page(request, "billing/job_progress.html" if partial else "billing/job.html", title="Traitement en cours",
                job=found)


@router.get("/tournees/{run_id}", response_class=HTMLResponse)
def run(request: Request, db: DbDep, principal: BillingDep, run_id: int,
        offset: Offset = 0) -> HTMLResponse:
    return run_page(request, db, run_id, offset)


def run_page(request: Request, db: Any, run_id: int, offset: int = 0, status_code: int = 200,
             **context: Any) -> HTMLResponse:
    """A run's page: its figures, review list and invoices (with a failed form's error, ``sepa_error``)."""
    with db.pool.connection() as conn:
        summary = run_summary(conn, run_id)
        status = "draft" if summary.status == "simulated" else "issued"
        invoices, total = q.list_invoices(conn, run_id=run_id, status=status, limit=LIMIT, offset=offset)
        documents = conn.execute("SELECT count(*) FROM invoice_documents d JOIN invoices i ON i.id = d.invoice_id "
                                 "WHERE i.run_id = %s AND d.kind = 'facturx_pdf'", (run_id,)).fetchone()
        exports = conn.execute("SELECT collection_date, payments, total, created_at FROM sepa_exports "
                               "WHERE run_id = %s ORDER BY created_at", (run_id,)).fetchall()
        earliest = earliest_collection(conn, run_id)
        titres_done = conn.execute(
            "SELECT count(*), string_agg(DISTINCT b.number::text, ', ') FROM titres t "
            "JOIN pes_bordereaux b ON b.id = t.bordereau_id JOIN invoices i ON i.id = t.invoice_id "
            "WHERE i.run_id = %s AND i.kind = 'invoice'", (run_id,)).fetchone()
        collection = conn.execute("SELECT collection FROM pes_settings").fetchone()
    context.setdefault("sepa_error", "")
    context.setdefault("titres_error", "")
    context.setdefault("sepa_date", "")
    return page(request, "billing/run.html", status_code=status_code, title=f"Tournée {run_id}", run=summary,
                invoices=invoices, total=total, offset=offset, limit=LIMIT, labels=STATUS_LABELS,
                documents=documents[0] if documents else 0, exports=exports, today=date.today(),
                earliest=earliest, titres_done=titres_done, titres_collection=collection[0] if collection else None,
                **context)


@router.get("/tournees/{run_id}/emettre", response_class=HTMLResponse)
def issue_confirmation(request: Request, db: DbDep, principal: BillingDep, run_id: int) -> Response:
    """What issuing will do, with the count and total to confirm."""
    with db.pool.connection() as conn:
        summary = run_summary(conn, run_id)
    if summary.status != "simulated":
        return RedirectResponse(f"/facturation/tournees/{run_id}", status_code=303)
    return page(request, "billing/issue_confirm.html", title=f"Émettre la tournée {run_id}", run=summary, error="")


@router.post("/tournees/{run_id}/emettre", response_class=HTMLResponse)
def issue(request: Request, db: DbDep, principal: BillingDep, run_id: int,
          factures: Annotated[int, Form(ge=0)], total_ttc: Annotated[Decimal, Form(max_digits=14)]) -> Response:
    """Issue the run as confirmed (its count and total as shown); a run that changed since is shown again."""
    with db.pool.connection() as conn:
        summary = run_summary(conn, run_id)
    if summary.status == "simulated" and (summary.invoices, summary.total_ttc) != (factures, total_ttc):
        return page(request, "billing/issue_confirm.html", status_code=409, title=f"Émettre la tournée {run_id}",
                    run=summary, error=f"La tournée a changé depuis la confirmation ({factures} facture(s) pour "
                                       f"{fr.eur(total_ttc)} TTC) : vérifiez les chiffres ci-dessous.")

    def work(conn: Any, progress: StageProgress) -> dict[str, Any]:
        done = issue_confirmed(conn, run_id, factures, total_ttc, actor=principal.login, progress=progress)
        return {"run_id": run_id, "issued": done.issued, "first": done.first_number, "last": done.last_number}

    return RedirectResponse(f"/facturation/taches/{start_job(db, 'issue', principal.login, work)}", status_code=303)


@router.post("/tournees/{run_id}/abandonner")
def discard(request: Request, db: DbDep, principal: BillingDep, run_id: int) -> RedirectResponse:
    """Throw a simulated run away (an issued run is refused on the error page)."""
    with db.pool.connection() as conn:
        discard_run(conn, run_id, actor=principal.login)
    return RedirectResponse("/facturation?ok=discarded", status_code=303)


@router.post("/tournees/{run_id}/documents")
def documents(request: Request, db: DbDep, principal: BillingDep, run_id: int) -> RedirectResponse:
    def work(conn: Any, progress: StageProgress) -> dict[str, Any]:
        return {"run_id": run_id, "generated": generate_run_documents(conn, run_id, progress=progress("documents"))}

    return RedirectResponse(f"/facturation/taches/{start_job(db, 'documents', principal.login, work)}",
                            status_code=303)


@router.post("/tournees/{run_id}/sepa")
def sepa(request: Request, db: DbDep, principal: BillingDep, run_id: int,
         date_prelevement: Annotated[date, Form()]) -> Response:
    try:
        with db.pool.connection() as conn:
            done = export_sepa(conn, run_id, date_prelevement, actor=principal.login)
    except (StateError, ValidationError) as exc:
        return run_page(request, db, run_id, status_code=422, sepa_error=str(exc),
                        sepa_date=date_prelevement.isoformat())
    return Response(done.content, media_type="application/xml", headers={
        "Content-Disposition": f'attachment; filename="prelevements-{run_id}-{date_prelevement:%Y%m%d}.xml"'})


@router.get("/tournees/{run_id}/comptabilite/{part}")
def accounting(db: DbDep, principal: BillingDep, run_id: int, part: str) -> Response:
    if part not in ("journal", "titres"):
        raise HTTPException(404, "export inconnu")
    with db.pool.connection() as conn:
        done = export_accounting(conn, run_id)
    text = done.journal_csv if part == "journal" else done.titles_csv
    return Response(text.encode(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{part}-{run_id}.csv"'})


# --- invoices ---------------------------------------------------------------------------------------
@router.get("/factures", response_class=HTMLResponse)
def invoices(request: Request, db: DbDep, principal: BillingDep, recherche: Annotated[str | None, Query(max_length=64)]
             = None, type: str | None = None, offset: Offset = 0) -> HTMLResponse:
    kind = type if type in ("invoice", "credit_note") else None
    with db.pool.connection() as conn:
        rows, total = q.list_invoices(conn, kind=kind, search=recherche, limit=LIMIT, offset=offset)
    return page(request, "billing/invoices.html", title="Factures et avoirs", rows=rows, total=total, offset=offset,
                limit=LIMIT, recherche=recherche or "", type=type or "")


@router.get("/factures/{number}", response_class=HTMLResponse)
def invoice(request: Request, db: DbDep, principal: BillingDep, number: str) -> HTMLResponse:
    with db.pool.connection() as conn:
        found = q.invoice_detail(conn, number)
        titre = titre_of(conn, found["id"]) if found else None
        balance = invoice_balance(conn, found["id"]) if found and found["kind"] == "invoice" else None
        emargements = emargements_of(conn, found["id"]) if found and titre else []
        returned = returns_of(conn, found["id"]) if found else []
    if found is None:
        raise HTTPException(404, f"facture {number} inconnue")
    return page(request, "billing/invoice.html", title=f"Facture {number}", inv=found, errors=[], titre=titre,
                titre_states=TITRE_STATES, balance=balance, emargements=emargements, returned=returned)


@router.get("/factures/{number}/{kind}")
def invoice_file(db: DbDep, principal: BillingDep, number: str, kind: str) -> Response:
    if kind not in ("pdf", "xml"):
        raise HTTPException(404, "document inconnu")
    with db.pool.connection() as conn:
        doc = read_document(conn, number, "facturx_pdf" if kind == "pdf" else "cii_xml")
    return Response(doc.content, media_type=doc.mime,
                    headers={"Content-Disposition": f'attachment; filename="{doc.filename}"'})


@router.post("/factures/{number}/avoir", response_class=HTMLResponse)
async def credit_note(request: Request, db: DbDep, principal: BillingDep, number: str) -> Response:
    form = await request.form()
    reason = str(form.get("motif") or "").strip()
    full = form.get("nature") != "partiel"
    lines: dict[int, Decimal] | None = None
    errors: list[FieldError] = []
    if not full:
        lines = {}
        for key, value in form.items():
            if key.startswith("ligne_") and str(value).strip():
                try:
                    lines[int(key[6:])] = Decimal(str(value).replace(",", ".").replace(" ", ""))
                except (ValueError, InvalidOperation):
                    errors.append(FieldError(key, f"« {value} » n'est pas un montant"))
        if not lines and not errors:
            errors.append(FieldError("nature", "indiquez le montant à créditer d'au moins une ligne"))
    if not errors:
        try:
            with db.pool.connection() as conn:
                result = credit(conn, number, actor=principal.login, reason=reason, lines=lines,
                                reissue=full and form.get("rectificative") == "oui")
            return RedirectResponse(f"/facturation/factures/{result.credit_note_number}?ok=credited", status_code=303)
        except StateError as exc:
            errors.append(FieldError("motif", str(exc)))
        except BillingError as exc:
            errors.append(FieldError("nature", str(exc)))
    with db.pool.connection() as conn:
        found = q.invoice_detail(conn, number)
    if found is None:
        raise HTTPException(404, f"facture {number} inconnue")
    return page(request, "billing/invoice.html", status_code=422, title=f"Facture {number}", inv=found,
                errors=errors)


# --- tariffs and indices ----------------------------------------------------------------------------------
@router.get("/tarifs", response_class=HTMLResponse)
def tariffs(request: Request, db: DbDep, principal: BillingDep) -> HTMLResponse:
    return tariffs_page(request, db)


def tariffs_page(request: Request, db: Any, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The tariffs page, with a failed form's values and errors (``form`` names which)."""
    context.setdefault("form", "")
    context.setdefault("values", {})
    context.setdefault("errors", [])
    return page(request, "billing/tariffs.html", status_code=status_code, title="Tarifs et indices",
                **_tariff_data(db), **context)


def _tariff_data(db: Any) -> dict[str, Any]:
    with db.pool.connection() as conn:
        return {
            "tariffs": conn.execute("SELECT t.category, c.label, t.valid_from, t.valid_to, t.r1_eur_mwh, "
                                    "t.r21_eur_kw_year, t.r22_eur_kw_year, t.r23_eur_kw_year, t.r24_eur_kw_year, "
                                    "t.deliberation, t.locked "
                                    "FROM tariffs t JOIN tariff_categories c ON c.code = t.category "
                                    "ORDER BY t.category, t.valid_from").fetchall(),
            "reductions": conn.execute("SELECT coalesce(c.label, r.category), r.valid_from, r.valid_to, r.percent, "
                                       "r.applies_to, r.deliberation, r.label FROM category_reductions r "
                                       "LEFT JOIN tariff_categories c ON c.code = r.category "
                                       "ORDER BY r.category, r.valid_from").fetchall(),
            "policies": conn.execute(
                "SELECT NULL AS network, r2_proration, unit_price_places, implausible_factor, reading_window_hours, "
                "estimation FROM billing_policy UNION ALL SELECT network, r2_proration, unit_price_places, "
                "implausible_factor, reading_window_hours, estimation FROM network_billing_policies "
                "ORDER BY network NULLS FIRST").fetchall(),
            "networks_options": [(r[0], f"{r[0]} – {r[1]}") for r in conn.execute(
                "SELECT code, name FROM networks ORDER BY code").fetchall()],
            "proration_labels": {"monthly_twelfth": "douzième par mois", "days_in_year": "jours / jours de l'année"},
            "estimation_labels": {"degree_days": "même période l'an dernier × degrés-jours",
                                  "recent_average": "moyenne récente"},
            "categories": conn.execute("SELECT code, label FROM tariff_categories ORDER BY code").fetchall(),
            "vat": conn.execute("SELECT network, valid_from, valid_to, renewable_share_pct, rate_r1_pct, rate_r2_pct, "
                                "justification FROM vat_periods ORDER BY network, valid_from").fetchall(),
            "formulas": conn.execute(
                "SELECT f.term, coalesce(f.category, 'toutes'), f.valid_from, f.fixed_part, f.lag_months, "
                "string_agg(c.weight || ' × ' || c.series || '/' || c.base_value, ' + ' ORDER BY c.series) "
                "FROM indexation_formulas f JOIN indexation_components c ON c.formula_id = f.id "
                "GROUP BY f.id ORDER BY f.term, f.valid_from").fetchall(),
            "indices": conn.execute(
                "SELECT s.code, s.name, v.month, v.value, v.published_on, v.locked FROM index_series s "
                "LEFT JOIN LATERAL (SELECT * FROM index_values iv WHERE iv.series = s.code "
                "ORDER BY month DESC LIMIT 6) v ON true ORDER BY s.code, v.month DESC").fetchall(),
        }


@router.get("/tarifs/modele.csv")
def tariff_template(db: DbDep, principal: BillingDep) -> Response:
    """The tariff file to fill in, French columns, each category's current version as its example."""
    with db.pool.connection() as conn:
        text = imports.tariff_template(conn)
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="modele-tarifs.csv"'})


@router.post("/tarifs/import", response_class=HTMLResponse)
async def import_file(request: Request, db: DbDep, principal: BillingDep,
                      nature: Annotated[str, Form()], fichier: UploadFile) -> Response:
    if nature not in ("tariffs", "indices", "formulas", "subscribers", "contracts"):
        raise HTTPException(422, "nature d'import inconnue")
    text = (await fichier.read()).decode("utf-8-sig", errors="replace")
    try:
        with db.pool.connection() as conn:
            getattr(imports, f"import_{nature}")(conn, text, fichier.filename or "fichier.csv", actor=principal.login)
    except ValidationError as exc:
        return tariffs_page(request, db, status_code=422, form="import", errors=exc.errors,
                            import_source=fichier.filename)
    return RedirectResponse("/facturation/tarifs?ok=imported", status_code=303)

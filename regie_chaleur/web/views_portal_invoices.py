"""The subscriber's invoices in the portal (espace/factures): filtered by site (delivery point) and month,
each with its site, its rest to pay and its payment reference, an HTML page per invoice, its PDF, and a
month's PDFs in one archive, for a landlord with dozens of sites. Every query is bound to the signed-in
subscriber: anyone else's invoice is not found."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from billing.documents.store import read_document
from billing.errors import NotFoundError
from billing.identifiers import creditor_reference
from billing.instalments import plans
from billing.payfip import read_payfip
from billing.retours import account_summary, dues
from regie_chaleur.deps import DbDep, Offset
from regie_chaleur.services import billing_read as q
from regie_chaleur.web.authz import PortalDep
from regie_chaleur.web.render import page
from regie_chaleur.web.views_portal import _points, _scope

router = APIRouter(prefix="/espace", include_in_schema=False)
LIMIT = 24
Month = Annotated[str | None, Query(max_length=7, pattern=r"^(\d{4}-\d{2})?$", description="YYYY-MM")]
Site = Annotated[str | None, Query(max_length=64)]


def _month(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date(int(value[:4]), int(value[5:7]), 1)
    except ValueError as exc:
        raise HTTPException(422, f"mois « {value} » invalide (aaaa-mm)") from exc


@router.get("/factures", response_class=HTMLResponse)
def invoices(request: Request, db: DbDep, principal: PortalDep, offset: Offset = 0, site: Site = None,
             mois: Month = None) -> HTMLResponse:
    """The subscriber's issued invoices and credit notes, newest first, by site and month."""
    scope = _scope(principal)
    month = _month(mois)
    with db.pool.connection() as conn:
        sites = _points(conn, scope)
        if site and site not in {p["code"] for p in sites}:
            site = None  # not one of theirs: all their sites
        rows, total = q.list_invoices(conn, subscriber_id=scope, status="issued", limit=LIMIT, offset=offset,
                                      point=site or None, month=month)
        owed = dues(conn, [r["id"] for r in rows])
        account = account_summary(conn, scope, date.today())
        collection = conn.execute("SELECT collection FROM pes_settings").fetchone()
        online = {r[0] for r in conn.execute(
            "SELECT invoice_id FROM online_payments WHERE invoice_id = ANY(%s) AND result IN ('P', 'V')",
            ([r["id"] for r in rows],))}
        payfip = read_payfip(conn) is not None
        plan = plans(conn, scope)
        months = [r[0] for r in conn.execute(
            "SELECT DISTINCT date_trunc('month', period_start)::date FROM invoices WHERE subscriber_id = %s "
            "AND status = 'issued' ORDER BY 1 DESC LIMIT 36", (scope,))]
    for r in rows:
        r["due"] = owed.get(r["id"])
        r["reference"] = creditor_reference(r["number"]) if r["kind"] == "invoice" else None
        r["paid_online"] = r["id"] in online
    query = "&".join(f"{k}={v}" for k, v in (("site", site), ("mois", mois)) if v)
    return page(request, "portal/invoices.html", title="Mes factures", rows=rows, total=total, offset=offset,
                limit=LIMIT, account=account, today=date.today(), sites=sites, site=site or "", mois=mois or "",
                months=months, query=query, accountant=bool(collection and collection[0] == "accountant"),
                payfip=payfip, plan=plan[0] if plan and plan[0]["status"] == "active" else None)


@router.get("/factures/archive.zip")
def archive(db: DbDep, principal: PortalDep, mois: Month = None, site: Site = None) -> Response:
    """A month's invoice PDFs (Factur-X) in one ZIP archive, for all the subscriber's sites or one."""
    scope = _scope(principal)
    month = _month(mois)
    if month is None:
        raise HTTPException(422, "choisissez un mois")
    with db.pool.connection() as conn:
        rows, _ = q.list_invoices(conn, subscriber_id=scope, status="issued", limit=1000, point=site or None,
                                  month=month)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zipped:  # PDFs are compressed already
            for row in rows:
                try:
                    doc = read_document(conn, row["number"], "facturx_pdf", subscriber_id=scope)
                except NotFoundError:
                    continue  # its PDF not generated yet
                zipped.writestr(doc.filename, doc.content)
    if not rows:
        raise HTTPException(404, "aucune facture pour ce mois")
    name = f"factures-{mois}{'-' + site if site else ''}.zip"
    return Response(buffer.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/factures/{number}.pdf")
def invoice_pdf(db: DbDep, principal: PortalDep, number: str) -> Response:
    """The subscriber's own invoice or credit note; anyone else's is not found."""
    with db.pool.connection() as conn:
        doc = read_document(conn, number, "facturx_pdf", subscriber_id=_scope(principal))
    return Response(doc.content, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{doc.filename}"'})


@router.get("/factures/{number}", response_class=HTMLResponse)
def invoice(request: Request, db: DbDep, principal: PortalDep, number: str) -> HTMLResponse:
    """One invoice or credit note as a page: its site, period, lines, VAT, totals and what is still owed."""
    scope = _scope(principal)
    with db.pool.connection() as conn:
        found = q.invoice_detail(conn, number, subscriber_id=scope)
        if found is None or found["status"] != "issued":
            raise HTTPException(404, "facture introuvable")
        point = conn.execute("SELECT dp.code, dp.name, dp.address FROM contracts c JOIN delivery_points dp "
                             "ON dp.id = c.delivery_point_id WHERE c.id = %s", (found["contract_id"],)).fetchone()
        due = dues(conn, [found["id"]]).get(found["id"])
        payfip = read_payfip(conn) is not None
    return page(request, "portal/invoice.html", title=f"{'Facture' if found['kind'] == 'invoice' else 'Avoir'} "
                f"{number}", inv=found, point=point, due=due, payfip=payfip, today=date.today(),
                reference=creditor_reference(number) if found["kind"] == "invoice" else None)

"""One contract's invoice for one period, computed from plain data (no database): lines and totals.

- **R1** = energy [MWh, to the kWh] × indexed R1 [€/MWh]. A quarterly or yearly period is priced month
  by month (one line per month, each with that month's indexed price, as R1 and R2 are revised
  monthly), and a tariff version starting inside the period splits it too; the energy is shared
  between those lines in proportion to their days (design choice, documented).
- **R2** = subscribed power [kW] × indexed R21..R24 [€/kW/year] × the period's share of a year (an exact
  fraction: a month is 1/12, not 0.0833), per day of supply: a contract starting or ending inside the
  period, a power change or a month of a longer period splits the line.
- **Reduction** of the tariff category (by deliberation), on R1 and/or R2, per VAT rate.
- **Regularisation** of an earlier estimated index, at the price and VAT rate it was billed at.
- **VAT** per rate on the document: base = Σ lines at that rate; VAT = base × rate rounded once,
  half-up, to the cent (EN 16931 BR-CO-17). R2 lines carry the network's R2 rate (5.5 %), R1 lines the
  R1 rate of the VAT period (5.5 % when renewable and recovered heat is at least 50 %, else 20 %).

Every amount is rounded once: a line to the cent from its exact quantity × unit price × prorata; a
unit price to the policy's decimals; VAT per rate. Totals are exact sums of rounded figures, so an
invoice always reconciles: total = Σ lines + Σ VAT.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal

from billing import fr
from billing.consumption import Consumption, change_summary, compute_consumption
from billing.errors import ContractException
from billing.indexation import IndexedPrice, formula_for, indexed_price
from billing.model import (
    R2_TERMS,
    TERM_LABELS,
    BilledR2,
    Contract,
    Draft,
    Formula,
    IndexValue,
    Line,
    MeterInputs,
    Period,
    Policy,
    Reduction,
    TariffVersion,
    Totals,
    VatPeriod,
    VatTotal,
)
from billing.money import (
    MWH_PLACES,
    cents,
    cents_exact,
    exact_product,
    exact_ratio,
    fraction_as_decimal,
    kwh_to_mwh,
    round_to,
)
from billing.periods import add_months, boundary, hours_in, months_of, r2_prorata

ONE = Decimal(1)
PriceCache = dict[tuple[object, ...], IndexedPrice]
R1_KINDS = ("R1", "regularisation")


def compute_draft(contract: Contract, run_period: Period, run_date: date, tariffs: Sequence[TariffVersion],
                  formulas: Sequence[Formula], index_values: Mapping[tuple[str, date], IndexValue],
                  vat_periods: Sequence[VatPeriod], reductions: Sequence[Reduction], meter: MeterInputs,
                  policy: Policy, cache: PriceCache | None = None, others: Sequence[tuple[str, MeterInputs]] = (),
                  billed_r2: Sequence[BilledR2] = ()) -> Draft:
    """The invoice of ``contract`` for ``run_period`` (cut to the days it was supplied).

    ``cache``: indexed prices already computed in this run with the same inputs (every contract of a
    category shares them); one dictionary per run, never across runs. ``others``: the contract's other
    delivery points (code, meter inputs), whose energies are billed beside the main one's.
    ``billed_r2``: the R2 lines already issued to the contract; a subscribed power changed since for
    their days is regularised on this invoice.

    Raises:
        ContractException: anything that prevents an exact invoice (an item of the review list).
    """
    period = run_period.intersect(contract.supplied)
    if period is None:
        raise ContractException("not_supplied", "le contrat ne couvre aucun jour de la période")
    segments = tariff_segments(period, [t for t in tariffs if t.category == contract.category], contract.category)
    if contract.frequency != "monthly":  # R1 and R2 are revised monthly: each month its own indexed price
        segments = monthly_segments(segments)
    vat = vat_period_for(vat_periods, contract.network, period)
    powers = power_pieces(contract, period)
    consumption = compute_consumption(meter, boundary(period.start), boundary(period.end), period.days,
                                      hours_in(period), max(kw for _, kw in powers), policy)
    prices: list[IndexedPrice] = []
    lines = r1_lines(consumption, segments, period, contract, formulas, index_values, run_date, vat, policy, prices,
                     cache, point=None if not others else "principal")
    warnings = list(consumption.warnings)
    other_readings = []
    for code, inputs in others:
        extra = compute_consumption(inputs, boundary(period.start), boundary(period.end), period.days,
                                    hours_in(period), None, policy)
        lines += r1_lines(extra, segments, period, contract, formulas, index_values, run_date, vat, policy, prices,
                          cache, point=code)
        warnings += [f"{code} : {w}" for w in extra.warnings]
        other_readings.append({"delivery_point": code, **extra.summary()})
    lines += r2_lines(segments, powers, contract, formulas, index_values, run_date, vat, policy, prices, cache)
    lines += r2_regularisation_lines(contract, billed_r2, period.start, policy)
    lines += reduction_lines(lines, reductions, contract.category, period)
    totals = compute_totals(lines)
    if totals.total_ht < 0:
        raise ContractException("negative_total", f"montant hors taxes négatif ({fr.eur(totals.total_ht)}) : "
                                                  "émettre un avoir plutôt qu'une facture")
    readings = consumption.summary()
    readings["meter_changes"] = [change_summary(c) for c in meter.changes if
                                 boundary(period.start) <= c.at < boundary(period.end)]
    if other_readings:
        readings["other_points"] = other_readings
    return Draft(contract, period, tuple(lines), totals, readings, tuple(warnings),
                 frozenset((v.series, v.month) for p in prices for v in p.values_used),
                 frozenset(t.id for _, t in segments))


def tariff_segments(period: Period, tariffs: Sequence[TariffVersion], category: str
                    ) -> list[tuple[Period, TariffVersion]]:
    """The tariff versions covering ``period``, each with the days it covers.

    Raises:
        ContractException: ``no_tariff`` when a day of the period has no tariff.
    """
    out: list[tuple[Period, TariffVersion]] = []
    for tariff in sorted(tariffs, key=lambda t: t.valid_from):
        part = period.intersect(tariff.period)
        if part is not None:
            out.append((part, tariff))
    covered = sum(p.days for p, _ in out)
    if covered != period.days:
        raise ContractException("no_tariff", f"aucun tarif de la catégorie {category} pour une partie de la "
                                             f"période {period.label()}")
    return out


def monthly_segments(segments: list[tuple[Period, TariffVersion]]) -> list[tuple[Period, TariffVersion]]:
    """The tariff segments cut at each month's first day: a quarterly or yearly period is priced month by
    month, each month with its own indexed price (the value of month m − lag applies to month m)."""
    out = []
    for part, tariff in segments:
        for month in months_of(part):
            piece = part.intersect(Period(month, add_months(month, 1)))
            if piece is not None:
                out.append((piece, tariff))
    return out


def vat_period_for(vat_periods: Sequence[VatPeriod], network: str, period: Period) -> VatPeriod:
    """The network's VAT period in force on the period's last day (the supply's end): the latest one
    started by then, should two overlap.

    Raises:
        ContractException: ``no_vat_period``.
    """
    last = period.end - timedelta(days=1)
    matching = [v for v in vat_periods if v.network == network and v.valid_from <= last
                and (v.valid_to is None or last < v.valid_to)]
    if matching:
        return max(matching, key=lambda v: v.valid_from)
    raise ContractException("no_vat_period", f"aucun taux de TVA enregistré pour le réseau {network} au "
                                             f"{last:%d/%m/%Y} (part d'énergies renouvelables et de récupération)")


def power_pieces(contract: Contract, period: Period) -> list[tuple[Period, Decimal]]:
    """The subscribed power [kW] over the days of ``period``, split where it changes.

    Raises:
        ContractException: ``no_power`` when a day has no subscribed power.
    """
    steps = sorted(contract.powers, key=lambda s: s.valid_from)
    out = []
    for i, step in enumerate(steps):
        end = steps[i + 1].valid_from if i + 1 < len(steps) else date.max
        part = period.intersect(Period(step.valid_from, end))
        if part is not None:
            out.append((part, step.power_kw))
    if sum(p.days for p, _ in out) != period.days:
        raise ContractException("no_power", f"puissance souscrite inconnue pour une partie de la période "
                                            f"{period.label()}")
    return out


def _price(term: str, tariff: TariffVersion, start: date, contract: Contract, formulas: Sequence[Formula],
           index_values: Mapping[tuple[str, date], IndexValue], run_date: date, policy: Policy,
           prices: list[IndexedPrice], cache: PriceCache | None) -> IndexedPrice:
    key = (tariff.id, term, contract.category, start)  # the formula follows from the category and the day
    price = cache.get(key) if cache is not None else None
    if price is None:
        formula = formula_for(formulas, term, contract.category, start)
        price = indexed_price(tariff, term, formula, start, index_values, run_date, policy.unit_price_places)
        if cache is not None:
            cache[key] = price
    prices.append(price)
    return price


def r1_lines(consumption: Consumption, segments: list[tuple[Period, TariffVersion]], period: Period,
             contract: Contract, formulas: Sequence[Formula], index_values: Mapping[tuple[str, date], IndexValue],
             run_date: date, vat: VatPeriod, policy: Policy, prices: list[IndexedPrice],
             cache: PriceCache | None = None, point: str | None = None) -> list[Line]:
    """The energy line(s) of one delivery point (``point``: its code, when the contract has several), and
    the regularisation of an earlier estimate."""
    lines: list[Line] = []
    total = kwh_to_mwh(consumption.kwh)
    given = Decimal(0)
    for i, (part, tariff) in enumerate(segments):
        quantity = total - given if i == len(segments) - 1 else round_to(
            exact_ratio(exact_product(total, Decimal(part.days)), Decimal(period.days)), MWH_PLACES)
        given += quantity
        price = _price("R1", tariff, part.start, contract, formulas, index_values, run_date, policy, prices, cache)
        start, end = consumption.start, consumption.end
        where = f" ({point})" if point and point != "principal" else ""
        label = (f"{TERM_LABELS['R1']}{where} {part.label()} : index {fr.number(start.index_kwh)} → "
                 f"{fr.number(end.index_kwh)} kWh"
                 + (" (estimé)" if end.kind == "estimated" else ""))
        details = {**price.details, "consumption_kwh": str(consumption.kwh), "tariff_id": tariff.id,
                   "deliberation": tariff.deliberation}
        if point:
            details["delivery_point"] = point
        if len(segments) > 1:
            details["share_of_days"] = f"{part.days}/{period.days}"
        lines.append(Line("R1", label, quantity, "MWh", price.unit_price, ONE, "",
                          cents(exact_product(quantity, price.unit_price)), vat.rate_r1_pct, part, details))
    reg = consumption.regularisation
    if reg is not None and reg.kwh != 0:
        quantity = kwh_to_mwh(reg.kwh)
        label = (f"Régularisation de l'index estimé du {fr.day(reg.estimated.at)} (facture {reg.previous_invoice}) : "
                 f"estimé {fr.number(reg.estimated.index_kwh)} kWh, relevé {fr.number(reg.actual.index_kwh)} kWh")
        lines.append(Line("regularisation", label, quantity, "MWh", reg.unit_price, ONE, "",
                          cents(exact_product(quantity, reg.unit_price)), reg.vat_rate, period,
                          {"kwh": str(reg.kwh), "previous_invoice": reg.previous_invoice}))
    return lines


def r2_lines(segments: list[tuple[Period, TariffVersion]], powers: list[tuple[Period, Decimal]], contract: Contract,
             formulas: Sequence[Formula], index_values: Mapping[tuple[str, date], IndexValue], run_date: date,
             vat: VatPeriod, policy: Policy, prices: list[IndexedPrice], cache: PriceCache | None = None
             ) -> list[Line]:
    """One line per R2 term, tariff version and subscribed power in force."""
    lines = []
    for term in R2_TERMS:
        for part, tariff in segments:
            if tariff.base_price(term) == 0:
                continue
            price = _price(term, tariff, part.start, contract, formulas, index_values, run_date, policy, prices, cache)
            for days, kw in powers:
                piece = part.intersect(days)
                if piece is None:
                    continue
                share, how = r2_prorata(piece, policy.r2_proration)
                label = (f"{TERM_LABELS[term]} {piece.label()} : {fr.number(kw)} kW × "
                         f"{fr.number(price.unit_price)} €/kW/an × {how}")
                lines.append(Line(term, label, kw, "kW", price.unit_price, fraction_as_decimal(share), how,  # type: ignore[arg-type]
                                  cents_exact(kw, price.unit_price, share), vat.rate_r2_pct, piece,
                                  {**price.details, "tariff_id": tariff.id, "deliberation": tariff.deliberation}))
    return lines


def r2_regularisation_lines(contract: Contract, billed: Sequence[BilledR2], before: date, policy: Policy
                            ) -> list[Line]:
    """Lines that bring the R2 already billed for days before ``before`` to the subscribed power in force
    for those days now (a power change dated inside an invoiced period): per term and run of days, the
    power difference [kW] × the unit price it was billed at × those days' share of a year."""
    lines: list[Line] = []
    for term in R2_TERMS:
        mine = [b for b in billed if b.term == term and b.period.start < before]
        cuts = sorted({d for b in mine for d in (b.period.start, min(b.period.end, before))}
                      | {s.valid_from for s in contract.powers})
        pieces: list[tuple[Period, Decimal, Decimal, BilledR2]] = []  # days, kW billed, kW now, line billed
        for a, b in itertools.pairwise(cuts):
            if b > before:
                break
            covering = [x for x in mine if x.period.start <= a and b <= x.period.end]
            now = _power_on(contract, a)
            if not covering or now is None:
                continue
            billed_kw = sum((x.kw for x in covering), Decimal(0))
            if now == billed_kw:
                continue
            source = max(covering, key=lambda x: x.kw)
            last = pieces[-1] if pieces else None
            if last and last[0].end == a and (last[1], last[2], last[3].unit_price, last[3].invoice) == (
                    billed_kw, now, source.unit_price, source.invoice):
                pieces[-1] = (Period(last[0].start, b), billed_kw, now, source)
            else:
                pieces.append((Period(a, b), billed_kw, now, source))
        for piece, was, now_kw, source in pieces:
            share, how = r2_prorata(piece, policy.r2_proration)
            delta = now_kw - was
            label = (f"Régularisation {TERM_LABELS[term]} {piece.label()} : puissance souscrite portée de "
                     f"{fr.number(was)} à {fr.number(now_kw)} kW (facture {source.invoice}) × "
                     f"{fr.number(source.unit_price)} €/kW/an × {how}")
            lines.append(Line(term, label, delta, "kW", source.unit_price,  # type: ignore[arg-type]
                              fraction_as_decimal(share), how, cents_exact(delta, source.unit_price, share),
                              source.vat_rate, piece, {"regularisation_of": source.invoice, "power_kw_billed": str(was),
                                                       "power_kw_now": str(now_kw)}))
    return lines


def _power_on(contract: Contract, day: date) -> Decimal | None:
    """The subscribed power [kW] in force on ``day``."""
    steps = [s for s in sorted(contract.powers, key=lambda s: s.valid_from) if s.valid_from <= day]
    return steps[-1].power_kw if steps else None


def reduction_lines(lines: Sequence[Line], reductions: Sequence[Reduction], category: str, period: Period
                    ) -> list[Line]:
    """The category's reductions in force at the period's start, one line per VAT rate they touch."""
    out = []
    for r in reductions:
        if r.category != category or r.valid_from > period.start or (r.valid_to is not None
                                                                       and period.start >= r.valid_to):
            continue
        kinds = {"R1": R1_KINDS, "R2": R2_TERMS, "R1R2": R1_KINDS + R2_TERMS}[r.applies_to]
        bases: dict[Decimal, Decimal] = {}
        for line in lines:
            if line.kind in kinds:
                bases[line.vat_rate] = bases.get(line.vat_rate, Decimal(0)) + line.amount
        for rate, base in sorted(bases.items()):
            amount = -cents(exact_product(base, r.percent) / 100)
            if amount == 0:
                continue
            terms = {"R1": "R1", "R2": "R2", "R1R2": "R1 et R2"}[r.applies_to]
            label = f"{r.label} : {fr.percent(r.percent)} de {fr.eur(base)} ({terms}, délibération {r.deliberation})"
            out.append(Line("reduction", label, ONE, "forfait", amount, ONE, "", amount, rate, period,
                            {"percent": str(r.percent), "base": str(base), "deliberation": r.deliberation,
                             "applies_to": r.applies_to}))
    return out


def compute_totals(lines: Sequence[Line]) -> Totals:
    """Totals per VAT rate (VAT rounded once per rate on the document) and for the document."""
    bases: dict[Decimal, Decimal] = {}
    for line in lines:
        bases[line.vat_rate] = bases.get(line.vat_rate, Decimal(0)) + line.amount
    by_rate = tuple(VatTotal(rate, base, cents(exact_product(base, rate) / 100))
                    for rate, base in sorted(bases.items()))
    total_ht = sum((v.base for v in by_rate), Decimal(0))
    total_vat = sum((v.vat for v in by_rate), Decimal(0))
    return Totals(by_rate, total_ht, total_vat, total_ht + total_vat)

"""The demonstration network: an Ivry-like city with two heat networks, built deterministically.

- **centre**: the historical city-centre network, fed by heat recovered from the Ivry-Paris XIII
  incinerator (must-take) with gas boilers for peaks and back-up and the storage tank;
- **confluences**: the riverside district's newer network on a Dogger geothermal doublet.

About 250 substations (170 centre, 80 riverside), each with a heat meter and a controller served by the
simulator on 127.0.0.1 (one TCP port per substation), a delivery point per substation, and the
subscribers a city has: social landlords, co-ownerships, the city, the département and the region's
schools and public buildings, businesses. Every name, address and identifier is invented (the
identifiers are well-formed: SIREN/SIRET keys, IBANs); the streets are Ivry's.

Subscribed powers follow what the simulated building needs (design power plus hot water, with the
usual margin); a few are under-subscribed on purpose, so the subscribed-power audit has findings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import yaml
from schwifty import IBAN

from billing.identifiers import siren_with_key, siret_with_key
from telemetry.simulator.fleet import CONTROLLER_PROFILES, METER_PROFILES, SimulatedDeviceSpec, SimulatedSubstationSpec
from telemetry.simulator.physics import Building, Substation, make_substation

NETWORKS = {"centre": ("Réseau de chaleur du centre-ville", 170, "C", (48.8130, 2.3850)),
            "confluences": ("Réseau Ivry Confluences", 80, "F", (48.8240, 2.3990))}
PLANTS = [  # code, name, network, kind, capacity [MW] (the planner's demonstration system, ivry-plants.yaml)
    ("UVE-IVRY", "Récupération de chaleur, UVE Ivry-Paris XIII", "centre", "recovered_heat", 40),
    ("GEO-CONF", "Doublet géothermique du Dogger, Confluences", "confluences", "geothermal", 10),
    ("CHAUF-GAZ-1", "Chaufferie gaz n° 1", "centre", "gas_boiler", 20),
    ("CHAUF-GAZ-2", "Chaufferie gaz n° 2", "centre", "gas_boiler", 20),
    ("BALLON-STOCKAGE", "Ballon de stockage thermique (120 MWh)", "centre", "other", 15),
]
STREETS = {
    "centre": ["avenue Georges-Gosnat", "rue Marat", "avenue Danielle-Casanova", "rue Raspail", "rue Robespierre",
               "avenue Maurice-Thorez", "rue Gabriel-Péri", "rue Jean-Jacques-Rousseau", "rue Lénine",
               "avenue de Verdun", "rue Molière", "rue Ledru-Rollin", "rue Voltaire", "rue Saint-Just",
               "rue Pierre-Rigaud", "boulevard de Brandebourg", "rue Hoche", "rue Barbès", "rue Émile-Zola",
               "avenue Pierre-Brossolette", "rue Jules-Vanzuppe", "rue Spinoza"],
    "confluences": ["quai Marcel-Boyer", "quai Auguste-Deshaies", "rue François-Mitterrand", "avenue Jean-Jaurès",
                    "rue Westermeyer", "rue Victor-Hugo", "boulevard Paul-Vaillant-Couturier", "rue Galilée",
                    "rue Jean-Le-Galleu", "rue Bruneseau"],
}
#: each network's production meter (heat sent out, on its main plant's departure): network -> plant
PRODUCTION_METERS = {"centre": "UVE-IVRY", "confluences": "GEO-CONF"}
#: network heat losses as a share of the connected buildings' design power (a constant loss through the
#: pipes, about 8 % of the heat sent out over a year)
LOSS_SHARE = 0.03
MODBUS_BASE_PORT = 15020
FIRST_DAY = date(2024, 7, 1)  # the régie took the service back


@dataclass(frozen=True)
class DemoSubscriber:
    code: str
    name: str
    category: str
    points: int  # how many delivery points it holds
    public_entity: bool = False
    sepa: bool = True
    site: str = "Résidence"  # what its delivery points are called
    helios: tuple[str, str] | None = None  # (CatTiers, NatJur) of its titres when not the default


# the delivery points are dealt in this order until each subscriber has its count (250 in all)
SUBSCRIBERS = [
    DemoSubscriber("OPH-IVRY", "Office public de l'habitat d'Ivry (démonstration)", "logement_social", 62,
                   site="Résidence"),
    DemoSubscriber("FOYERS-VDM", "Foyers du Val-de-Marne, SA d'HLM (démonstration)", "logement_social", 24),
    DemoSubscriber("SEINE-AMONT-HAB", "Seine-Amont Habitat, coopérative HLM (démonstration)", "logement_social", 14),
    DemoSubscriber("VILLE-IVRY", "Ville d'Ivry-sur-Seine (démonstration)", "equipement_public", 34,
                   public_entity=True, sepa=False, site="Équipement municipal", helios=("23", "09")),
    DemoSubscriber("CD94", "Département du Val-de-Marne (démonstration)", "equipement_public", 8,
                   public_entity=True, sepa=False, site="Collège", helios=("22", "09")),
    DemoSubscriber("REGION-IDF", "Région Île-de-France (démonstration)", "equipement_public", 4,
                   public_entity=True, sepa=False, site="Lycée", helios=("21", "09")),
    DemoSubscriber("CH-IVRY", "Centre hospitalier de la Seine (démonstration)", "equipement_public", 3,
                   public_entity=True, sepa=False, site="Bâtiment hospitalier", helios=("27", "09")),
    *[DemoSubscriber(f"COPRO-{i:03d}", f"Syndicat des copropriétaires de la résidence {name} (démonstration)",
                     "copropriete", 1)
      for i, name in enumerate(["Les Tilleuls", "Le Parc", "Les Terrasses", "Le Belvédère", "Les Quais",
                                "Jeanne-Hachette", "Le Clos", "Les Platanes", "Le Fort", "La Seine", "Les Jardins",
                                "Le Moulin", "Les Lilas", "Le Square", "La Verrière", "Les Marronniers",
                                "L'Horizon", "Le Plateau", "Les Arcades", "Le Cèdre", "Les Sources", "La Butte",
                                "Les Ateliers", "Le Patio", "Les Cerisiers", "La Confluence", "Le Port",
                                "Les Berges", "L'Orangerie", "Le Trapèze", "Les Mûriers", "Le Phare", "Les Acacias",
                                "La Passerelle", "Le Hameau", "Les Glycines", "Le Cloître", "Les Halles",
                                "Le Verger", "Les Charmes", "La Fabrique", "Le Carré", "Les Saules", "L'Écluse",
                                "Le Quartz", "Les Bouleaux", "Le Square-Robespierre", "Les Roseaux", "Le Bastion",
                                "La Rotonde", "Les Érables", "Le Grand-Pavois", "Les Hirondelles", "Le Moderne",
                                "Les Peupliers", "La Pergola", "Le Rivage", "Les Lavandières", "Le Manège",
                                "Les Capucines"], start=1)],
    *[DemoSubscriber(f"TERT-{i:03d}", f"{name} (démonstration)", "tertiaire", n, sepa=i % 3 != 0,
                     site="Établissement")
      for i, (name, n) in enumerate([("Bureaux Seine-Gare SAS", 3), ("Hôtel du Fort SARL", 1),
                                     ("Supermarché des Quais SAS", 1), ("Clinique des Bords de Seine SA", 2),
                                     ("Campus numérique Ivry SAS", 3), ("Pépinière d'entreprises Ivry-Port", 2),
                                     ("Cinéma Le Luxy SCIC", 1), ("Résidence étudiante Confluences SAS", 2),
                                     ("Laboratoires Bruneseau SA", 2), ("Imprimerie Westermeyer SARL", 1),
                                     ("Ateliers du Port SCOP", 1), ("Banque coopérative, agence d'Ivry", 1),
                                     ("Maison de santé pluriprofessionnelle", 1), ("Centre sportif privé Gosnat", 1),
                                     ("Restaurant inter-entreprises Marat", 1)], start=1)],
]


@dataclass(frozen=True)
class DemoSubstation:
    spec: SimulatedSubstationSpec
    network: str
    name: str
    address: str
    latitude: float
    longitude: float
    subscriber: str
    category: str
    power_kw: Decimal  # subscribed power [kW]


def substations(count: int = 250, base_port: int = MODBUS_BASE_PORT) -> list[DemoSubstation]:
    """The demonstration's substations (deterministic): ``count`` split 68/32 between the networks."""
    rng = random.Random(94200)  # noqa: S311  (a reproducible demonstration, not secrets)
    centre = round(count * NETWORKS["centre"][1] / 250)
    dealt = [s for s in SUBSCRIBERS for _ in range(s.points)]
    rng.shuffle(dealt)
    out = []
    for i in range(count):
        network = "centre" if i < centre else "confluences"
        _, _, letter, (lat, lon) = NETWORKS[network]
        number = i + 1 if network == "centre" else i - centre + 1
        code = f"SST-{letter}{number:03d}"
        devices = (SimulatedDeviceSpec(f"{code}-CPT", 1, METER_PROFILES[i % 2], "meter"),
                   SimulatedDeviceSpec(f"{code}-REG", 254 if CONTROLLER_PROFILES[(i // 2) % 2] == "danfoss-ecl-310"
                                       else 2, CONTROLLER_PROFILES[(i // 2) % 2], "controller"))
        spec = SimulatedSubstationSpec(code, "127.0.0.1", base_port + i, seed=1000 + i, devices=devices)
        owner = dealt[i % len(dealt)]
        street = rng.choice(STREETS[network])
        building = make_substation(code, spec.seed).building
        need = building.design_power_kw * (1 + building.dhw_share * 1.8)
        margin = 0.85 if i % 37 == 5 else rng.uniform(1.0, 1.25)  # a few under-subscribed on purpose
        power = Decimal(max(30, round(need * margin / 10) * 10))
        out.append(DemoSubstation(spec, network, f"{owner.site} {street.split(' ', 1)[1]}",
                                  f"{rng.randint(1, 160)} {street}, 94200 Ivry-sur-Seine",
                                  round(lat + rng.uniform(-0.006, 0.006), 5),
                                  round(lon + rng.uniform(-0.008, 0.008), 5),
                                  owner.code, owner.category, power))
    return out


def network_sections() -> list[dict[str, Any]]:
    """Each network's trunk, fed by its main plant, and a branch per street hanging from it."""
    out: list[dict[str, Any]] = []
    for net, (name, *_rest) in NETWORKS.items():
        trunk = f"TRONC-{net.upper()}"
        out.append({"code": trunk, "name": f"Tronc commun, {name.lower()}", "network": net,
                    "plant": PRODUCTION_METERS[net]})
        out += [{"code": f"ANT-{net.upper()}-{i:02d}", "name": f"Antenne {street}", "network": net, "parent": trunk}
                for i, street in enumerate(STREETS[net], start=1)]
    return out


def section_of(s: DemoSubstation) -> str:
    """The branch of the street a substation stands on."""
    street = s.address.split(",")[0].split(" ", 1)[1]
    return f"ANT-{s.network.upper()}-{STREETS[s.network].index(street) + 1:02d}"


def inventory_yaml(subs: list[DemoSubstation]) -> str:
    """The registry inventory (``network import`` format) of the demonstration network."""
    doc: dict[str, list[dict[str, Any]]] = {
        "networks": [{"code": code, "name": name} for code, (name, *_rest) in NETWORKS.items()],
        "plants": [{"code": c, "name": n, "network": net, "kind": k, "capacity_mw": cap}
                   for c, n, net, k, cap in PLANTS],
        "network_sections": network_sections(),
        "substations": [], "devices": [], "meters": [], "delivery_points": []}
    for prod in production_specs(subs):
        device = prod.devices[0]
        plant = device.code.removesuffix("-CPT")
        doc["devices"].append({"code": device.code, "plant": plant, "host": prod.host, "port": prod.port,
                               "unit_id": device.unit_id, "profile": device.profile})
        doc["meters"].append({"code": f"{device.code}-M", "device": device.code, "plant": plant,
                              "register_capacity_kwh": 100_000_000})
    for s in subs:
        code = s.spec.code
        doc["substations"].append({"code": code, "name": f"Sous-station {s.name}", "network": s.network,
                                   "address": s.address, "latitude": s.latitude, "longitude": s.longitude,
                                   "network_section": section_of(s)})
        for d in s.spec.devices:
            doc["devices"].append({"code": d.code, "substation": code, "host": s.spec.host, "port": s.spec.port,
                                   "unit_id": d.unit_id, "profile": d.profile})
        meter = s.spec.devices[0].code
        doc["meters"].append({"code": f"{meter}-M", "device": meter, "substation": code,
                              "register_capacity_kwh": 100_000_000})
        doc["delivery_points"].append({"code": code.replace("SST-", "PDL-"), "name": s.name, "substation": code,
                                       "meter": f"{meter}-M", "address": s.address, "latitude": s.latitude,
                                       "longitude": s.longitude})
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def subscriber_records(subs: list[DemoSubstation]) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                             list[dict[str, Any]]]:
    """(subscribers, SEPA mandates, contracts) as the billing records take them."""
    holding = {s.subscriber for s in subs}
    subscribers, mandates, contracts = [], [], []
    for n, sub in enumerate(SUBSCRIBERS, start=1):
        if sub.code not in holding:
            continue
        number = siren_with_key(f"9{n * 7919:07d}")
        street = STREETS["centre"][n % len(STREETS["centre"])]
        subscribers.append({
            "code": sub.code, "name": sub.name, "siren": number, "siret": siret_with_key(number),
            "address_line1": f"{(n * 13) % 150 + 1} {street}", "postcode": "94200", "city": "Ivry-sur-Seine",
            "email": f"facturation.{sub.code.lower()}@exemple.fr", "public_entity": "oui" if sub.public_entity else "",
            "chorus_service_code": "FACTURES-CHALEUR" if sub.public_entity else "",
            "helios_category": sub.helios[0] if sub.helios else "",
            "helios_legal_nature": sub.helios[1] if sub.helios else ""})
        if sub.sepa:
            iban = str(IBAN.generate("FR", bank_code="30004", account_code=f"{n * 104729:011d}").compact)
            mandates.append({"subscriber": sub.code, "reference": f"RIC-{sub.code}-2024", "signed_on": "2024-06-15",
                             "iban": iban})
    sepa = {m["subscriber"]: m["reference"] for m in mandates}
    for s in subs:
        contract = {"number": s.spec.code.replace("SST-", "POL-"), "subscriber": s.subscriber,
                    "delivery_point": s.spec.code.replace("SST-", "PDL-"), "category": s.category,
                    "start_date": FIRST_DAY.isoformat(), "power_kw": str(s.power_kw)}
        if s.subscriber in sepa:
            contract |= {"payment_method": "sepa", "mandate": sepa[s.subscriber]}
        contracts.append(contract)
    return subscribers, mandates, contracts


def production_specs(subs: list[DemoSubstation]) -> list[SimulatedSubstationSpec]:
    """The production meters (one per network), served by the simulator after the substations."""
    last_port = max(s.spec.port for s in subs)
    return [SimulatedSubstationSpec(f"PROD-{network}", "127.0.0.1", last_port + 1 + i, seed=9000 + i,
                                    devices=(SimulatedDeviceSpec(f"{plant}-CPT", 1, METER_PROFILES[0], "meter"),))
            for i, (network, plant) in enumerate(PRODUCTION_METERS.items())]


def production_substation(subs: list[DemoSubstation], spec: SimulatedSubstationSpec) -> Substation:
    """What a network's production meter measures: the sum of its substations' load (one building of
    their total design power, mean heating limit and hot-water share) plus the network's heat losses."""
    network = spec.code.removeprefix("PROD-")
    buildings = [make_substation(s.spec.code, s.spec.seed).building for s in subs if s.network == network]
    total = sum(b.design_power_kw for b in buildings)
    weights = [b.design_power_kw / total for b in buildings]
    building = Building(design_power_kw=round(total, 1),
                        heating_limit_c=round(sum(w * b.heating_limit_c for w, b in zip(weights, buildings,
                                                                                        strict=True)), 2),
                        dhw_share=round(sum(w * b.dhw_share for w, b in zip(weights, buildings, strict=True))
                                        + LOSS_SHARE / 0.9, 4))  # 0.9: the hot-water profile's daytime weight
    start = make_substation(spec.code, spec.seed)
    return Substation(code=spec.code, building=building, energy_kwh=start.energy_kwh, volume_m3=start.volume_m3)

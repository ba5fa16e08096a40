"""Where the synthetic people live when a trail has geography: their home countries and the
addresses of those countries' internet providers, and the countries the planted sign-ins come
from. Data only, so the world and the stories can both read it."""

from __future__ import annotations

#: person -> (home country, addresses): large, long-standing provider delegations
HOMES: dict[str, tuple[str, list[str]]] = {
    "alice": ("US", ["12.34.56.78", "12.145.20.31"]),
    "bob": ("US", ["24.5.7.9", "12.145.20.40"]),
    "carol": ("DE", ["80.133.40.12", "80.133.41.7"]),
    "dave": ("DE", ["217.86.10.4", "80.133.40.90"]),
    "erin": ("JP", ["133.11.20.5", "126.45.8.9", "2001:218:4000::15"]),
    "frank": ("GB", ["81.2.69.160", "86.150.3.4"]),
    "grace": ("BR", ["2804:14c:5b80::21"]),
    "heidi": ("BR", ["177.34.5.6", "189.60.7.8"]),
}

#: the planted sign-ins' addresses (and their countries, for the incident's text)
FOREIGN = ("95.24.100.7", "RU")
FAR_AWAY = ("116.14.20.9", "SG")


def home_addresses() -> dict[str, list[str]]:
    """Each person's addresses, to replace the documentation ones."""
    return {name: list(addresses) for name, (_, addresses) in HOMES.items()}

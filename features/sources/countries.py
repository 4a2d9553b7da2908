"""Country names as ACLED and UCDP GED write them -> ISO 3166-1 alpha-3 codes.

The table covers Africa, where both sources started and where Vigie works first, under the spellings
of both sources (ACLED "Democratic Republic of Congo", UCDP "DR Congo (Zaire)", ...). Names are matched
ignoring case, accents, punctuation spacing and surrounding blanks. :data:`ISO3_CODES` lists every
country code there is, to tell a foreign event (a real code) from a code that is no country at all.
"""

from __future__ import annotations

import re

import pandas as pd

#: ISO3 -> the names the sources use for that country.
COUNTRY_NAMES: dict[str, tuple[str, ...]] = {
    "DZA": ("Algeria",),
    "AGO": ("Angola",),
    "BEN": ("Benin",),
    "BWA": ("Botswana",),
    "BFA": ("Burkina Faso",),
    "BDI": ("Burundi",),
    "CMR": ("Cameroon",),
    "CPV": ("Cape Verde", "Cabo Verde"),
    "CAF": ("Central African Republic",),
    "TCD": ("Chad",),
    "COM": ("Comoros",),
    "COD": ("Democratic Republic of Congo", "Democratic Republic of the Congo", "DR Congo (Zaire)", "DR Congo"),
    "COG": ("Republic of Congo", "Republic of the Congo", "Congo"),
    "DJI": ("Djibouti",),
    "EGY": ("Egypt",),
    "GNQ": ("Equatorial Guinea",),
    "ERI": ("Eritrea",),
    "SWZ": ("eSwatini", "Eswatini", "Swaziland", "Kingdom of eSwatini (Swaziland)"),
    "ETH": ("Ethiopia",),
    "GAB": ("Gabon",),
    "GMB": ("Gambia", "The Gambia"),
    "GHA": ("Ghana",),
    "GIN": ("Guinea",),
    "GNB": ("Guinea-Bissau",),
    "CIV": ("Ivory Coast", "Cote d'Ivoire"),
    "KEN": ("Kenya",),
    "LSO": ("Lesotho",),
    "LBR": ("Liberia",),
    "LBY": ("Libya",),
    "MDG": ("Madagascar", "Madagascar (Malagasy)"),
    "MWI": ("Malawi",),
    "MLI": ("Mali",),
    "MRT": ("Mauritania",),
    "MUS": ("Mauritius",),
    "MYT": ("Mayotte",),
    "MAR": ("Morocco",),
    "MOZ": ("Mozambique",),
    "NAM": ("Namibia",),
    "NER": ("Niger",),
    "NGA": ("Nigeria",),
    "REU": ("Reunion",),
    "RWA": ("Rwanda",),
    "STP": ("Sao Tome and Principe",),
    "SEN": ("Senegal",),
    "SYC": ("Seychelles",),
    "SLE": ("Sierra Leone",),
    "SOM": ("Somalia",),
    "ZAF": ("South Africa",),
    "SSD": ("South Sudan",),
    "SDN": ("Sudan",),
    "TZA": ("Tanzania",),
    "TGO": ("Togo",),
    "TUN": ("Tunisia",),
    "UGA": ("Uganda",),
    "ESH": ("Western Sahara",),
    "ZMB": ("Zambia",),
    "ZWE": ("Zimbabwe", "Zimbabwe (Rhodesia)"),
}


#: Every ISO 3166-1 alpha-3 code (the 249 officially assigned ones), plus XKX, the user-assigned code
#: ACLED and most data sets use for Kosovo. A country_iso3 outside this set is no known country.
ISO3_CODES: frozenset[str] = frozenset((
    "ABW", "AFG", "AGO", "AIA", "ALA", "ALB", "AND", "ARE", "ARG", "ARM", "ASM", "ATA", "ATF", "ATG", "AUS",
    "AUT", "AZE", "BDI", "BEL", "BEN", "BES", "BFA", "BGD", "BGR", "BHR", "BHS", "BIH", "BLM", "BLR", "BLZ",
    "BMU", "BOL", "BRA", "BRB", "BRN", "BTN", "BVT", "BWA", "CAF", "CAN", "CCK", "CHE", "CHL", "CHN", "CIV",
    "CMR", "COD", "COG", "COK", "COL", "COM", "CPV", "CRI", "CUB", "CUW", "CXR", "CYM", "CYP", "CZE", "DEU",
    "DJI", "DMA", "DNK", "DOM", "DZA", "ECU", "EGY", "ERI", "ESH", "ESP", "EST", "ETH", "FIN", "FJI", "FLK",
    "FRA", "FRO", "FSM", "GAB", "GBR", "GEO", "GGY", "GHA", "GIB", "GIN", "GLP", "GMB", "GNB", "GNQ", "GRC",
    "GRD", "GRL", "GTM", "GUF", "GUM", "GUY", "HKG", "HMD", "HND", "HRV", "HTI", "HUN", "IDN", "IMN", "IND",
    "IOT", "IRL", "IRN", "IRQ", "ISL", "ISR", "ITA", "JAM", "JEY", "JOR", "JPN", "KAZ", "KEN", "KGZ", "KHM",
    "KIR", "KNA", "KOR", "KWT", "LAO", "LBN", "LBR", "LBY", "LCA", "LIE", "LKA", "LSO", "LTU", "LUX", "LVA",
    "MAC", "MAF", "MAR", "MCO", "MDA", "MDG", "MDV", "MEX", "MHL", "MKD", "MLI", "MLT", "MMR", "MNE", "MNG",
    "MNP", "MOZ", "MRT", "MSR", "MTQ", "MUS", "MWI", "MYS", "MYT", "NAM", "NCL", "NER", "NFK", "NGA", "NIC",
    "NIU", "NLD", "NOR", "NPL", "NRU", "NZL", "OMN", "PAK", "PAN", "PCN", "PER", "PHL", "PLW", "PNG", "POL",
    "PRI", "PRK", "PRT", "PRY", "PSE", "PYF", "QAT", "REU", "ROU", "RUS", "RWA", "SAU", "SDN", "SEN", "SGP",
    "SGS", "SHN", "SJM", "SLB", "SLE", "SLV", "SMR", "SOM", "SPM", "SRB", "SSD", "STP", "SUR", "SVK", "SVN",
    "SWE", "SWZ", "SXM", "SYC", "SYR", "TCA", "TCD", "TGO", "THA", "TJK", "TKL", "TKM", "TLS", "TON", "TTO",
    "TUN", "TUR", "TUV", "TWN", "TZA", "UGA", "UKR", "UMI", "URY", "USA", "UZB", "VAT", "VCT", "VEN", "VGB",
    "VIR", "VNM", "VUT", "WLF", "WSM", "YEM", "ZAF", "ZMB", "ZWE",
    "XKX",
))


def is_known_country_code(codes: pd.Series) -> pd.Series:
    """True where the code (any case) is in :data:`ISO3_CODES`; False where it is not or is null."""
    return codes.astype("string").str.upper().isin(ISO3_CODES).fillna(False).astype(bool)


def _name_key(names: pd.Series) -> pd.Series:
    """Case-, accent- and spacing-insensitive matching key of country names."""
    ascii_names = names.astype("string").str.normalize("NFKD").str.encode("ascii", "ignore").str.decode("ascii")
    return ascii_names.str.casefold().str.replace(r"[\s\-]+", " ", regex=True).str.strip()


_KEY_TO_ISO3: dict[str, str] = {
    re.sub(r"[\s\-]+", " ", name.casefold()).strip(): iso3 for iso3, names in COUNTRY_NAMES.items() for name in names
}


def iso3_from_country_names(names: pd.Series) -> pd.Series:
    """ISO3 code of each country name (string dtype, same index); null where the name is null or unknown."""
    codes, distinct = pd.factorize(names.astype("string"))
    iso3_of_distinct = _name_key(pd.Series(distinct, dtype="string")).map(_KEY_TO_ISO3).astype("string")
    iso3 = iso3_of_distinct.reindex(codes).set_axis(names.index)
    return iso3

"""Country names as ACLED and UCDP GED write them -> ISO 3166-1 alpha-3 codes.

The table covers Africa, where both sources started and where Vigie works first, under the spellings
of both sources (ACLED "Democratic Republic of Congo", UCDP "DR Congo (Zaire)", ...). Names are matched
ignoring case, accents, punctuation spacing and surrounding blanks.
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

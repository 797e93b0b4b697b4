"""Venue categories → Vicino place type and interests: the one table the importers and the demo read.

Foursquare NYC (TSMC2014) names its ~190 venue categories ("Coffee Shop", "Home (private)", "Subway");
each real name is mapped explicitly in `FOURSQUARE_CATEGORIES`. A name not listed there (another city,
a newer Foursquare taxonomy) goes through `KEYWORD_RULES`, the first rule sharing a word with the name
wins, and `FALLBACK` ("other", no interests) is the last resort.

Yelp (Liu et al. 2017 layout) ships category *ids* without names, so there is nothing to read meaning
from: every Yelp category maps to place type "other" with no interests (`yelp_category_mapping`).

`category_table_markdown()` renders the table for docs/data.md
(`manage.py import_checkins --print-category-table`), so the documentation cannot drift from the code.

Pure Python, no Django import: the importers, the demo generator and the feature code all read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from users.taxonomy import INTERESTS, PLACE_TYPES


@dataclass(frozen=True, slots=True)
class CategoryMapping:
    place_type: str
    interests: tuple[str, ...] = ()
    #: Somebody's home: the importers never name such a place after its location, and the demo never
    #: holds an activity there.
    private: bool = False


def _m(place_type: str, *interests: str, private: bool = False) -> CategoryMapping:
    return CategoryMapping(place_type=place_type, interests=interests, private=private)


FALLBACK = _m("other")

_FOOD = _m("food", "food")
_HOME = _m("home", private=True)

#: Every category name that occurs in the Foursquare NYC files (derived table and GETNext splits).
FOURSQUARE_CATEGORIES: dict[str, CategoryMapping] = {
    "Airport": _m("transport", "travel"),
    "American Restaurant": _FOOD,
    "Antique Shop": _m("shopping", "shopping", "arts"),
    "Arcade": _m("entertainment", "gaming"),
    "Art Gallery": _m("arts", "arts"),
    "Art Museum": _m("arts", "arts"),
    "Arts & Crafts Store": _m("shopping", "arts", "shopping"),
    "Arts & Entertainment": _m("entertainment", "arts"),
    "Asian Restaurant": _FOOD,
    "Athletic & Sport": _m("sports", "sports", "fitness"),
    "Australian Restaurant": _FOOD,
    "Automotive Shop": _m("services"),
    "BBQ Joint": _FOOD,
    "Bagel Shop": _FOOD,
    "Bakery": _FOOD,
    "Bank": _m("services"),
    "Bar": _m("nightlife", "nightlife"),
    "Beach": _m("outdoors", "outdoors"),
    "Beer Garden": _m("nightlife", "nightlife"),
    "Bookstore": _m("shopping", "reading", "shopping"),
    "Bowling Alley": _m("entertainment", "sports", "gaming"),
    "Brazilian Restaurant": _FOOD,
    "Breakfast Spot": _FOOD,
    "Brewery": _m("nightlife", "nightlife", "food"),
    "Bridge": _m("outdoors", "outdoors", "photography"),
    # A bare "Building" is as often an office block as a flat: too vague to call either.
    "Building": FALLBACK,
    "Burger Joint": _FOOD,
    "Burrito Place": _FOOD,
    "Bus Station": _m("transport"),
    "Café": _m("food", "coffee", "food"),
    "Cajun / Creole Restaurant": _FOOD,
    "Campground": _m("outdoors", "outdoors", "travel"),
    "Candy Store": _m("shopping", "food"),
    "Caribbean Restaurant": _FOOD,
    "Casino": _m("entertainment", "gaming", "nightlife"),
    "Cemetery": FALLBACK,
    "Chinese Restaurant": _FOOD,
    # Places of worship: Vicino has no place type for them, and belief is not an interest it profiles.
    "Church": FALLBACK,
    "City": FALLBACK,
    "Clothing Store": _m("shopping", "fashion", "shopping"),
    "Coffee Shop": _m("food", "coffee"),
    "College & University": _m("education"),
    "College Academic Building": _m("education"),
    "College Stadium": _m("sports", "sports"),
    "Comedy Club": _m("entertainment", "nightlife"),
    "Community College": _m("education"),
    "Concert Hall": _m("arts", "music"),
    "Convenience Store": _m("shopping"),
    "Convention Center": _m("entertainment"),
    "Cosmetics Shop": _m("shopping", "fashion", "shopping"),
    "Cuban Restaurant": _FOOD,
    "Cupcake Shop": _FOOD,
    "Deli / Bodega": _FOOD,
    "Department Store": _m("shopping", "shopping", "fashion"),
    "Dessert Shop": _FOOD,
    "Dim Sum Restaurant": _FOOD,
    "Diner": _FOOD,
    "Donut Shop": _FOOD,
    "Drugstore / Pharmacy": _m("health"),
    "Eastern European Restaurant": _FOOD,
    "Electronics Store": _m("shopping", "technology", "shopping"),
    "Elementary School": _m("education", "family"),
    "Event Space": _m("entertainment"),
    "Factory": _m("work"),
    "Falafel Restaurant": _FOOD,
    "Fast Food Restaurant": _FOOD,
    "Ferry": _m("transport"),
    "Financial or Legal Service": _m("services"),
    "Flea Market": _m("shopping", "shopping"),
    "Food": _FOOD,
    "Food & Drink Shop": _m("shopping", "food"),
    "Food Truck": _FOOD,
    "French Restaurant": _FOOD,
    "Fried Chicken Joint": _FOOD,
    "Funeral Home": _m("services"),
    "Furniture / Home Store": _m("shopping", "shopping"),
    "Garden": _m("outdoors", "outdoors"),
    "Garden Center": _m("shopping", "outdoors"),
    "Gas Station / Garage": _m("transport"),
    "Gastropub": _m("nightlife", "nightlife", "food"),
    "General College & University": _m("education"),
    "General Entertainment": _m("entertainment"),
    "General Travel": _m("travel", "travel"),
    "German Restaurant": _FOOD,
    "Government Building": _m("services"),
    "Gym / Fitness Center": _m("sports", "fitness"),
    "Harbor / Marina": _m("outdoors", "outdoors"),
    "Hardware Store": _m("shopping"),
    "High School": _m("education"),
    "Historic Site": _m("travel", "travel", "photography"),
    "Hobby Shop": _m("shopping", "shopping"),
    "Home (private)": _HOME,
    "Hot Dog Joint": _FOOD,
    "Hotel": _m("travel", "travel"),
    "Housing Development": _HOME,
    "Ice Cream Shop": _FOOD,
    "Indian Restaurant": _FOOD,
    "Italian Restaurant": _FOOD,
    "Japanese Restaurant": _FOOD,
    "Jewelry Store": _m("shopping", "fashion", "shopping"),
    "Korean Restaurant": _FOOD,
    "Latin American Restaurant": _FOOD,
    "Laundry Service": _m("services"),
    "Law School": _m("education"),
    "Library": _m("education", "reading"),
    "Light Rail": _m("transport"),
    "Mac & Cheese Joint": _FOOD,
    "Malaysian Restaurant": _FOOD,
    "Mall": _m("shopping", "shopping"),
    "Market": _m("shopping", "food", "shopping"),
    "Medical Center": _m("health"),
    "Mediterranean Restaurant": _FOOD,
    "Mexican Restaurant": _FOOD,
    "Middle Eastern Restaurant": _FOOD,
    "Middle School": _m("education"),
    "Military Base": _m("work"),
    "Miscellaneous Shop": _m("shopping", "shopping"),
    "Mobile Phone Shop": _m("shopping", "technology"),
    "Molecular Gastronomy Restaurant": _FOOD,
    "Movie Theater": _m("entertainment", "movies"),
    # Foursquare's bucket for things that move (food carts, parades): no fixed kind of place.
    "Moving Target": FALLBACK,
    "Museum": _m("arts", "arts"),
    "Music Store": _m("shopping", "music"),
    "Music Venue": _m("entertainment", "music", "nightlife"),
    "Neighborhood": FALLBACK,
    "Nursery School": _m("education", "family"),
    "Office": _m("work"),
    "Other Great Outdoors": _m("outdoors", "outdoors"),
    "Other Nightlife": _m("nightlife", "nightlife"),
    "Outdoors & Recreation": _m("outdoors", "outdoors"),
    "Paper / Office Supplies Store": _m("shopping"),
    "Park": _m("outdoors", "outdoors"),
    "Parking": _m("transport"),
    "Performing Arts Venue": _m("arts", "arts", "music"),
    "Pet Store": _m("shopping", "pets"),
    "Pizza Place": _FOOD,
    "Playground": _m("outdoors", "family", "outdoors"),
    "Plaza": _m("outdoors"),
    "Pool": _m("sports", "fitness", "sports"),
    "Pool Hall": _m("entertainment", "gaming", "nightlife"),
    "Post Office": _m("services"),
    "Professional & Other Places": _m("work"),
    "Racetrack": _m("entertainment", "sports"),
    "Ramen /  Noodle House": _FOOD,  # sic: the data spells it with two spaces; lookups collapse whitespace
    "Recycling Facility": _m("services"),
    "Rental Car Location": _m("transport", "travel"),
    "Residential Building (Apartment / Condo)": _HOME,
    "Restaurant": _FOOD,
    "River": _m("outdoors", "outdoors"),
    "Road": _m("transport"),
    "Salad Place": _m("food", "food", "wellness"),
    "Salon / Barbershop": _m("services", "fashion"),
    "Sandwich Place": _FOOD,
    "Scenic Lookout": _m("outdoors", "outdoors", "photography"),
    "School": _m("education"),
    "Science Museum": _m("arts", "technology", "arts"),
    "Sculpture Garden": _m("arts", "arts", "outdoors"),
    "Seafood Restaurant": _FOOD,
    "Shrine": FALLBACK,
    "Smoke Shop": _m("shopping"),
    "Snack Place": _FOOD,
    "Soup Place": _FOOD,
    "Southern / Soul Food Restaurant": _FOOD,
    "Spa / Massage": _m("health", "wellness"),
    "Spanish Restaurant": _FOOD,
    "Spiritual Center": FALLBACK,
    "Sporting Goods Shop": _m("shopping", "sports", "shopping"),
    "Stadium": _m("sports", "sports"),
    "Steakhouse": _FOOD,
    "Student Center": _m("education"),
    "Subway": _m("transport"),
    "Sushi Restaurant": _FOOD,
    "Synagogue": FALLBACK,
    "Taco Place": _FOOD,
    "Tanning Salon": _m("services", "fashion"),
    "Tapas Restaurant": _FOOD,
    "Taxi": _m("transport"),
    "Tea Room": _m("food", "coffee"),
    "Temple": FALLBACK,
    "Thai Restaurant": _FOOD,
    "Theater": _m("arts", "arts"),
    "Thrift / Vintage Store": _m("shopping", "fashion", "shopping"),
    "Toy / Game Store": _m("shopping", "gaming", "family"),
    "Trade School": _m("education"),
    "Train Station": _m("transport"),
    "Travel & Transport": _m("transport", "travel"),
    "Travel Lounge": _m("travel", "travel"),
    "University": _m("education"),
    "Vegetarian / Vegan Restaurant": _m("food", "food", "wellness"),
    "Vietnamese Restaurant": _FOOD,
    "Wings Joint": _FOOD,
    "Zoo": _m("outdoors", "family", "pets"),
}

#: For names not in the table, in order: the first rule sharing a whole word with the name wins. The
#: order settles overlaps ("Tea Shop" is coffee, not shopping; "Home Service" is services, not a home).
KEYWORD_RULES: tuple[tuple[frozenset[str], CategoryMapping], ...] = (
    (frozenset({"coffee", "café", "cafe", "espresso", "tea"}), _m("food", "coffee")),
    (
        frozenset(
            {"restaurant", "joint", "bistro", "steakhouse", "pizzeria", "diner", "bakery", "eatery", "food"}
        ),
        _FOOD,
    ),
    (
        frozenset({"bar", "pub", "nightclub", "club", "lounge", "brewery", "winery", "nightlife"}),
        _m("nightlife", "nightlife"),
    ),
    (
        frozenset(
            {"gym", "fitness", "yoga", "pilates", "boxing", "court", "rink", "stadium", "arena", "athletic"}
        ),
        _m("sports", "sports", "fitness"),
    ),
    (
        frozenset(
            {"park", "garden", "beach", "trail", "lake", "river", "mountain", "forest", "outdoors", "marina"}
        ),
        _m("outdoors", "outdoors"),
    ),
    (frozenset({"museum", "gallery", "theater", "theatre", "opera", "art", "arts"}), _m("arts", "arts")),
    (frozenset({"cinema", "movie", "movies"}), _m("entertainment", "movies")),
    (frozenset({"music", "concert", "jazz"}), _m("entertainment", "music")),
    (frozenset({"casino", "arcade", "bowling", "amusement", "entertainment"}), _m("entertainment")),
    (frozenset({"school", "college", "university", "academy", "library", "campus"}), _m("education")),
    (
        frozenset(
            {"station", "airport", "terminal", "subway", "metro", "bus", "train", "rail", "ferry", "parking"}
        ),
        _m("transport"),
    ),
    (frozenset({"hotel", "hostel", "motel", "resort", "inn", "travel"}), _m("travel", "travel")),
    (
        frozenset({"hospital", "medical", "clinic", "doctor", "dentist", "pharmacy", "health", "spa"}),
        _m("health", "wellness"),
    ),
    (frozenset({"store", "shop", "boutique", "mall", "market", "outlet"}), _m("shopping", "shopping")),
    (frozenset({"service", "services", "bank", "salon", "laundry", "government", "repair"}), _m("services")),
    (frozenset({"office", "coworking", "factory", "headquarters"}), _m("work")),
    (frozenset({"home", "residential", "apartment", "condo", "housing"}), _HOME),
)

_WORD = re.compile(r"[^\W\d_]+")


def _normalised(name: str) -> str:
    return " ".join(name.split()).casefold()


_BY_NORMALISED_NAME = {_normalised(name): mapping for name, mapping in FOURSQUARE_CATEGORIES.items()}


def category_mapping(name: str) -> CategoryMapping:
    """The place type and interests of a venue category name: table, then keyword rules, then "other"."""
    normalised = _normalised(name)
    if not normalised:
        return FALLBACK
    mapping = _BY_NORMALISED_NAME.get(normalised)
    if mapping is not None:
        return mapping
    words = set(_WORD.findall(normalised))
    for keywords, rule_mapping in KEYWORD_RULES:
        if words & keywords:
            return rule_mapping
    return FALLBACK


def yelp_category_mapping(category_id: int) -> CategoryMapping:
    """Yelp category ids come without names in the Liu et al. release: nothing to map them by."""
    return FALLBACK


def category_table_markdown() -> str:
    """The mapping as markdown: the explicit table, the keyword rules and the fallbacks."""
    lines = [
        "| Foursquare category | place type | interests |",
        "|---|---|---|",
    ]
    for name in sorted(FOURSQUARE_CATEGORIES, key=str.casefold):
        mapping = FOURSQUARE_CATEGORIES[name]
        shown_name = " ".join(name.split()).replace("|", "\\|")
        place_type = f"{mapping.place_type} (private)" if mapping.private else mapping.place_type
        lines.append(f"| {shown_name} | {place_type} | {', '.join(mapping.interests) or '—'} |")
    lines += [
        "",
        "Names not in the table: the first rule below that shares a whole word with the name wins.",
        "",
        "| rule | words | place type | interests |",
        "|---|---|---|---|",
    ]
    for number, (keywords, mapping) in enumerate(KEYWORD_RULES, start=1):
        place_type = f"{mapping.place_type} (private)" if mapping.private else mapping.place_type
        words = ", ".join(sorted(keywords))
        lines.append(f"| {number} | {words} | {place_type} | {', '.join(mapping.interests) or '—'} |")
    lines += [
        "",
        f"Anything else: **{FALLBACK.place_type}**, no interests.",
        "",
        f"Yelp category ids (the release has no names): **{yelp_category_mapping(0).place_type}**, "
        "no interests.",
    ]
    return "\n".join(lines) + "\n"


def _check_vocabularies() -> None:
    # A typo here would otherwise surface as a CHECK-constraint failure halfway through an import.
    mappings = [*FOURSQUARE_CATEGORIES.values(), *(mapping for _, mapping in KEYWORD_RULES), FALLBACK]
    for mapping in mappings:
        if mapping.place_type not in PLACE_TYPES:
            raise ValueError(f"unknown place type {mapping.place_type!r} in users.category_map")
        unknown = set(mapping.interests) - set(INTERESTS)
        if unknown:
            raise ValueError(f"unknown interests {sorted(unknown)} in users.category_map")


_check_vocabularies()

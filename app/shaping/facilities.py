"""How a facility is named to a person, everywhere (pure): its name made short, with its
code — ``St. Mary Regional (FAC01)`` — so a chart's legend, a table and an alert say the
same thing. The code alone when the store knows no name."""

from __future__ import annotations

from collections.abc import Mapping

# Trailing words every hospital name has: dropped while at least two words remain.
GENERIC = ("Medical Center", "Medical Centre", "Health Center", "Health Centre",
           "Health System", "Hospital", "Clinic")


def short_name(name: str) -> str:
    """``St. Mary Regional Medical Center`` -> ``St. Mary Regional``; a name that would be
    left with one word (``General Hospital``) stays whole."""
    name = " ".join(str(name).split())
    for word in GENERIC:
        if name.endswith(" " + word):
            rest = name[: -len(word)].strip()
            if len(rest.split()) >= 2:
                return rest
    return name


def facility_label(code: str, names: Mapping[str, str]) -> str:
    """A facility as shown to a person: ``St. Mary Regional (FAC01)``, or ``FAC01``."""
    code = str(code or "")
    name = names.get(code, "") if code else ""
    if not name or name == code:
        return code
    return f"{short_name(name)} ({code})"


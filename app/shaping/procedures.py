"""Procedure codes as a person reads them (pure): ``27447 · Total knee replacement``.

Encounters carry the principal procedure's CPT code alone. The names below are our own
short plain-English labels for the codes the demo estate and a typical implant-heavy
service line use (not the AMA's descriptors); a code without one is shown as it is.
"""

from __future__ import annotations

PROCEDURE_NAMES = {
    "19340": "Breast implant at mastectomy",
    "22612": "Lumbar spinal fusion",
    "27130": "Total hip replacement",
    "27236": "Hip fracture repair, prosthesis",
    "27447": "Total knee replacement",
    "29827": "Shoulder arthroscopy, rotator cuff repair",
    "29881": "Knee arthroscopy, meniscectomy",
    "33208": "Dual-chamber pacemaker insertion",
    "33249": "Defibrillator (ICD) insertion",
    "44970": "Laparoscopic appendectomy",
    "47562": "Laparoscopic cholecystectomy",
    "49650": "Laparoscopic inguinal hernia repair",
    "63650": "Spinal cord stimulator lead implant",
    "92928": "Coronary stent placement",
    "93458": "Left heart catheterisation, angiography",
    "99283": "Emergency visit, level 3",
    "99284": "Emergency visit, level 4",
    "99285": "Emergency visit, level 5",
}


def procedure_label(code: str) -> str:
    """``27447 · Total knee replacement``; an unknown code as it is, none as a dash."""
    code = str(code or "").strip()
    if not code:
        return "–"
    name = PROCEDURE_NAMES.get(code)
    return f"{code} · {name}" if name else code

"""Display labels (msgids) of the domain's enumerations; translated when rendered."""

from __future__ import annotations

from records.reports.labels import TEMPLATE_GLOBALS as REPORT_LABELS
from scheduling.labels import TEMPLATE_GLOBALS as SCHEDULING_LABELS
from teleconsult.i18n import N_
from teleconsult.identity.model import DepartmentKind, EstablishmentKind, Role, Specialty

ROLE_LABELS: dict[str, str] = {
    Role.IDE: N_("Care-home nurse (IDE)"),
    Role.IDEC: N_("Coordinating nurse (IDEC)"),
    Role.MEDECIN_CO: N_("Coordinating physician (médecin coordonnateur)"),
    Role.EXPERT: N_("Expert (hospital physician)"),
    Role.SECRETARIAT: N_("Hospital secretariat"),
    Role.COORDINATEUR: N_("Territory coordinator"),
    Role.ADMIN: N_("Administrator"),
}

SPECIALTY_LABELS: dict[str, str] = {
    Specialty.GERIATRIE: N_("Geriatrics"),
    Specialty.PSYCHOGERIATRIE: N_("Psychogeriatrics"),
    Specialty.SOINS_PALLIATIFS: N_("Palliative care"),
    Specialty.PLAIES: N_("Wounds and healing"),
    Specialty.NUTRITION: N_("Nutrition"),
    Specialty.DOULEUR: N_("Pain"),
    Specialty.PHARMACIE: N_("Clinical pharmacy"),
    Specialty.CARDIOLOGIE: N_("Cardiology"),
    Specialty.MEDECINE_VASCULAIRE: N_("Vascular medicine"),
}

ESTABLISHMENT_KIND_LABELS: dict[str, str] = {
    EstablishmentKind.HOSPITAL: N_("Hospital"),
    EstablishmentKind.EHPAD: N_("Care home (EHPAD)"),
    EstablishmentKind.AUTHORITY: N_("Territory coordination"),
}

DEPARTMENT_KIND_LABELS: dict[str, str] = {
    DepartmentKind.GERIATRIC_WARD: N_("Geriatric department"),
    DepartmentKind.MOBILE_GERIATRIC_TEAM: N_("Mobile geriatric team"),
    DepartmentKind.PSYCHOGERIATRIC_UNIT: N_("Psychogeriatric unit"),
    DepartmentKind.OTHER: N_("Other team"),
}

TEMPLATE_GLOBALS = {
    **SCHEDULING_LABELS,
    **REPORT_LABELS,
    "role_labels": ROLE_LABELS,
    "specialty_labels": SPECIALTY_LABELS,
    "kind_labels": ESTABLISHMENT_KIND_LABELS,
    "department_kind_labels": DEPARTMENT_KIND_LABELS,
}

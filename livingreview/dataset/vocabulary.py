"""The dataset's vocabularies: every allowed category value, stated once. Standard library only, so the
configuration and the command line can use them without importing pandas."""

DESIGNS = ("RCT", "single-arm", "registered trial")
PUBLICATION_TYPES = ("full paper", "conference abstract", "registry record")
REGIMENS = ("InO monotherapy", "InO + chemotherapy", "InO + blinatumomab", "InO + chemotherapy ± blinatumomab")
DISEASE_STATUSES = ("newly diagnosed", "relapsed/refractory")
IDENTIFICATIONS = ("identified", "probable", "not identified")
DERIVATIONS = ("reported count", "derived from % × N", "back-calculated", "read from a figure", "missing")
KINDS = ("efficacy", "survival", "transplant", "relapse", "safety", "adverse_event")
#: The subgrouping columns of studies.csv (the paper's forest plots), each with its levels in the book's order.
SUBGROUP_LEVELS = {"regimen": REGIMENS, "disease_status": DISEASE_STATUSES}
SUBGROUP_COLUMNS = tuple(SUBGROUP_LEVELS)
PUBLISHED_SUBGROUPS = ("overall",) + SUBGROUP_COLUMNS
STATISTICS = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "i2", "het_p", "k", "egger_p")
COMPARATORS = ("=", "<", ">")
SEARCH_STATUSES = ("reported", "not reported")

#: Quality scales of the paper's Table 1: item id → (label, maximum score). Each study also has an item
#: "total" holding the total *as printed*; the loader recomputes the sum and compares.
QUALITY_ITEMS = {
    "modified Jadad": {
        "randomization": ("Random sequence generation", 2),
        "concealment": ("Concealment of allocation", 2),
        "blinding": ("Double blinding", 2),
        "withdrawals": ("Withdrawals and dropouts", 1),
    },
    "MINORS": {
        "I": ("A clearly stated aim", 2),
        "II": ("Inclusion of consecutive patients", 2),
        "III": ("Prospective collection of data", 2),
        "IV": ("Endpoints appropriate to the aim of the study", 2),
        "V": ("Unbiased assessment of the study endpoint", 2),
        "VI": ("Follow-up period appropriate to the aim of the study", 2),
        "VII": ("Loss to follow-up less than 5%", 2),
        "VIII": ("Prospective calculation of the study size", 2),
    },
}
TOTAL_ITEM = "total"
#: Quality bands of the paper's §2.4: (upper bound inclusive, band), in order.
QUALITY_BANDS = {
    "modified Jadad": ((3, "low"), (7, "high")),
    "MINORS": ((8, "low"), (12, "moderate"), (16, "high")),
}

"""The book's bibliography: a BibTeX file generated from the dataset's reports and the methods literature the text
cites, and the Sphinx extension that labels its entries as the book does.

* Every report of ``reports.csv`` is an entry, with the public locators the dataset gives (DOI, PMID, PMCID,
  registry id, URL) and nothing else; the principal report of one of the paper's studies is keyed ``ref<N>`` and
  labelled ``N`` — the paper's reference number, as the tables and forest plots show it ("Kantarjian et al. [18]");
  its other reports ``N·2``, ``N·3``…; a study added by an update is labelled by its first author and year. A
  reference of the paper that could not be identified is listed as such, with why.
* The methods literature (:data:`METHODS`) carries only identifiers that are well known and certain; a field that
  could not be verified is left out rather than guessed.

The entries' anchors are ``cite-<key>`` (``bibtex_cite_id``), so a table can link "[18]" to
``references.html#cite-ref18`` (:func:`reference_anchor`).
"""

from __future__ import annotations

import re

#: The methods literature the book cites: key → (label, BibTeX type, fields). Identifiers only where certain.
METHODS = {
    "lao2025": ("Lao 2025", "article", {
        "author": "Lao, Changtao and Wen, Jiange and Wen, Yuezhen",
        "title": "Efficacy and safety of inotuzumab ozogamicin and its combination therapies in acute "
                 "lymphoblastic leukemia: a systematic review and meta-analysis",
        "journal": "Frontiers in Oncology", "year": "2025", "volume": "15", "doi": "10.3389/fonc.2025.1613777"}),
    "iorio2015": ("Iorio 2015", "article", {
        "author": "Iorio, Alfonso and Spencer, Frederick A. and Falavigna, Maicon and others",
        "title": "Use of GRADE for assessment of evidence about prognosis: rating confidence in estimates of event "
                 "rates in broad categories of patients",
        "journal": "BMJ", "year": "2015", "volume": "350", "pages": "h870", "doi": "10.1136/bmj.h870"}),
    "foroutan2020": ("Foroutan 2020", "article", {
        "author": "Foroutan, Farid and Guyatt, Gordon and others",
        "title": "GRADE Guidelines 28: Use of GRADE for the assessment of evidence about prognostic factors: "
                 "rating certainty in identification of groups of patients with different absolute risks",
        "journal": "Journal of Clinical Epidemiology", "year": "2020", "volume": "121", "pages": "62--70",
        "doi": "10.1016/j.jclinepi.2019.12.023"}),
    "higgins2009": ("Higgins 2009", "article", {
        "author": "Higgins, Julian P. T. and Thompson, Simon G. and Spiegelhalter, David J.",
        "title": "A re-evaluation of random-effects meta-analysis",
        "journal": "Journal of the Royal Statistical Society: Series A", "year": "2009", "volume": "172",
        "pages": "137--159", "doi": "10.1111/j.1467-985X.2008.00552.x"}),
    "schwarzer2019": ("Schwarzer 2019", "article", {
        "author": "Schwarzer, Guido and Chemaitelly, Hiam and Abu-Raddad, Laith J. and R{\\\"u}cker, Gerta",
        "title": "Seriously misleading results using inverse of Freeman-Tukey double arcsine transformation in "
                 "meta-analysis of single proportions",
        "journal": "Research Synthesis Methods", "year": "2019", "volume": "10", "pages": "476--483",
        "doi": "10.1002/jrsm.1348"}),
    "cochrane_handbook": ("Cochrane Handbook", "misc", {  # a living text: its current version, no year
        "author": "Higgins, Julian P. T. and Thomas, James and Chandler, Jacqueline and Cumpston, Miranda and "
                  "Li, Tianjing and Page, Matthew J. and Welch, Vivian A.",
        "title": "Cochrane Handbook for Systematic Reviews of Interventions (editors)", "howpublished": "Cochrane",
        "url": "https://training.cochrane.org/handbook"}),
    "page2021": ("PRISMA 2020", "article", {
        "author": "Page, Matthew J. and McKenzie, Joanne E. and Bossuyt, Patrick M. and others",
        "title": "The PRISMA 2020 statement: an updated guideline for reporting systematic reviews",
        "journal": "BMJ", "year": "2021", "volume": "372", "pages": "n71", "doi": "10.1136/bmj.n71"}),
    "viechtbauer2010": ("Viechtbauer 2010", "article", {
        "author": "Viechtbauer, Wolfgang",
        "title": "Conducting meta-analyses in R with the metafor package",
        "journal": "Journal of Statistical Software", "year": "2010", "volume": "36", "number": "3",
        "doi": "10.18637/jss.v036.i03"}),
    "dersimonian1986": ("DerSimonian 1986", "article", {
        "author": "DerSimonian, Rebecca and Laird, Nan",
        "title": "Meta-analysis in clinical trials", "journal": "Controlled Clinical Trials", "year": "1986",
        "volume": "7", "pages": "177--188"}),
    "egger1997": ("Egger 1997", "article", {
        "author": "Egger, Matthias and Davey Smith, George and Schneider, Martin and Minder, Christoph",
        "title": "Bias in meta-analysis detected by a simple, graphical test", "journal": "BMJ", "year": "1997",
        "volume": "315", "pages": "629--634", "doi": "10.1136/bmj.315.7109.629"}),
    "hartung2001": ("Hartung 2001", "article", {
        "author": "Hartung, Joachim and Knapp, Guido",
        "title": "A refined method for the meta-analysis of controlled clinical trials with binary outcome",
        "journal": "Statistics in Medicine", "year": "2001", "volume": "20", "pages": "3875--3889"}),
}
LATEX_SPECIALS = re.compile(r"([&%$#_{}~^\\])")


def bib_text(value) -> str:
    """Data text as a BibTeX field value: LaTeX's special characters escaped, so a citation is shown as written."""
    replace = {"\\": r"\textbackslash{}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return LATEX_SPECIALS.sub(lambda m: replace.get(m.group(1), "\\" + m.group(1)), " ".join(str(value).split()))


def _entry(kind: str, key: str, fields: dict, escape: bool = True) -> str:
    """One BibTeX entry. Titles are braced, so that the style keeps their case ("INO-VATE", "GRADE")."""
    def value(name, v):
        text = bib_text(v) if escape and name != "url" else str(v)
        return f"{{{text}}}" if name == "title" else text

    body = ",\n".join(f"  {name} = {{{value(name, v)}}}" for name, v in fields.items() if v not in (None, ""))
    return f"@{kind}{{{key},\n{body}\n}}\n"


def _present(value) -> bool:
    import pandas as pd

    return not pd.isna(value) and str(value).strip() != ""


def report_key(study, role_rank: int, report_id: str) -> str:
    """``ref18`` for the principal report of the paper's reference 18; the report id otherwise."""
    return f"ref{int(study['ref_no'])}" if _present(study["ref_no"]) and role_rank == 0 else report_id


def dataset_entries(dataset) -> list[tuple[str, str]]:
    """(key, BibTeX entry) for every report of the included studies and every unidentified reference, the paper's
    studies in reference order, then the studies added by updates. Reads studies and reports."""
    studies = dataset.studies.copy()
    studies["_order"] = studies["ref_no"].astype("Float64").fillna(10_000)
    out = []
    for _, s in studies.sort_values(["_order", "data_version", "study_id"]).iterrows():
        reports = dataset.reports[dataset.reports["study_id"] == s["study_id"]]
        reports = reports.assign(_rank=(reports["role"] != "principal").astype(int)).sort_values("_rank", kind="stable")
        if reports.empty and _present(s["ref_no"]):
            out.append((f"ref{int(s['ref_no'])}", _entry("misc", f"ref{int(s['ref_no'])}", {
                "title": f"{s['label']}: reference {int(s['ref_no'])} of the paper, not identified from its text "
                         f"(the study-selection page says why)", "label": str(int(s["ref_no"]))})))
        for i, (_, r) in enumerate(reports.iterrows()):
            key = report_key(s, i, r["report_id"])
            if _present(s["ref_no"]):
                label = str(int(s["ref_no"])) if i == 0 else f"{int(s['ref_no'])}·{i + 1}"
            else:
                year = int(r["year"]) if _present(r["year"]) else ""
                label = f"{str(s['label']).split()[0]} {year}".strip() + ("" if i == 0 else f"·{i + 1}")
            fields = {"title": r["citation"], "howpublished": r["report_type"],
                      "year": str(int(r["year"])) if _present(r["year"]) else "",
                      "doi": r["doi"] if _present(r["doi"]) else "",
                      "note": "; ".join(f"{name} {r[col]}" for col, name in (("pmid", "PMID"), ("pmcid", "PMCID"),
                                                                             ("nct_id", "ClinicalTrials.gov"),
                                                                             ("abstract_number", "abstract"))
                                        if _present(r[col])),
                      "url": r["url"] if _present(r["url"]) else "", "label": label}
            out.append((key, _entry("misc", key, fields)))
    return out


def bibliography(dataset) -> str:
    """The whole ``references.bib``: the dataset's reports, then the methods literature; each entry's ``order``
    is its place in the list (the bibliography keeps it, whatever the order of citation)."""
    parts = [entry for _, entry in dataset_entries(dataset)]
    for key, (label, kind, fields) in METHODS.items():
        parts.append(_entry(kind, key, {**fields, "label": label}, escape=False))
    return "\n".join(entry.replace("\n}\n", f",\n  order = {{{i}}}\n}}\n") for i, entry in enumerate(parts))


def reference_anchor(ref_no: int) -> str:
    """The anchor of the paper's reference ``ref_no`` on the references page."""
    return f"cite-ref{int(ref_no)}"


def _register_styles() -> None:
    """pybtex styles: the book's labels (the ``label`` field), in the order of the .bib file."""
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.unsrt import Style as Unsorted
    from pybtex.style.labels import BaseLabelStyle
    from pybtex.style.sorting import BaseSortingStyle

    class Labels(BaseLabelStyle):
        def format_labels(self, sorted_entries):
            for entry in sorted_entries:
                yield str(entry.fields.get("label", entry.key))

    class AsWritten(BaseSortingStyle):
        def sort(self, entries):
            return sorted(entries, key=lambda e: int(str(e.fields.get("order", 0))))

    class Style(Unsorted):
        default_label_style = Labels
        default_sorting_style = AsWritten

    register_plugin("pybtex.style.labels", "livingreview", Labels, force=True)
    register_plugin("pybtex.style.sorting", "livingreview", AsWritten, force=True)
    register_plugin("pybtex.style.formatting", "livingreview", Style, force=True)


def setup(app):
    _register_styles()
    return {"parallel_read_safe": True, "parallel_write_safe": True}


__all__ = ["METHODS", "bib_text", "bibliography", "dataset_entries", "reference_anchor", "setup"]
